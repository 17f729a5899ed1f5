"""Every setting the service reads is documented, with the same default and meaning, in the README's
Configuration table and in docs/service-contract.md §6 — and the documented defaults are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cds_service.config import Settings

ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"""["']((?:CDS_[A-Z0-9_]+)|DATABASE_URL|PROMETHEUS_MULTIPROC_DIR)["']""")
_GET = re.compile(r"""os\.environ\.get\(\s*"([A-Z0-9_]+)",\s*"([^"]*)"\)""")


def settings_read() -> set[str]:
    """Names the code reads from the environment: quoted variable names in the package and the gunicorn config."""
    sources = [*(ROOT / "cds_service").rglob("*.py"), ROOT / "deploy/gunicorn.conf.py"]
    return {name for path in sources for name in _NAME.findall(path.read_text(encoding="utf-8"))}


def table(path: Path, heading: str) -> dict[str, tuple[str, str]]:
    """Variable → (default, meaning) from the first table after ``heading``."""
    text = path.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    rows: dict[str, tuple[str, str]] = {}
    for line in section[section.index("| Variable |"):].splitlines()[2:]:
        if not line.startswith("| `"):
            break
        name, default, meaning = (cell.strip() for cell in line.strip("|").split(" | "))
        rows[name.strip("`")] = (default, meaning)
    return rows


README = table(ROOT / "README.md", "## Configuration")
CONTRACT = table(ROOT / "docs/service-contract.md", "## 6. Configuration")


def test_every_setting_the_service_reads_is_in_both_tables() -> None:
    read = settings_read()
    assert read, "the pattern finds the settings"
    assert sorted(read - README.keys()) == [], "read by the service but missing from the README table"
    assert sorted(read - CONTRACT.keys()) == [], "read by the service but missing from docs/service-contract.md §6"
    assert sorted(README.keys() - read) == [], "documented but never read"


def test_both_tables_give_the_same_default_and_meaning() -> None:
    assert README == CONTRACT


@pytest.mark.parametrize(("name", "field"), [
    ("CDS_PUBLIC_BASE_URL", "public_base_url"), ("CDS_AUTH", "auth"), ("CDS_EQUIVALENCE_TABLE", "equivalence_table"),
    ("CDS_FHIR_TIMEOUT_S", "fhir_timeout_s"), ("CDS_CARD_LOG_INTERVAL_S", "card_log_interval_s"),
    ("CDS_SNOOZE_DAYS", "snooze_days"), ("CDS_JWT_MAX_LIFETIME_S", "jwt_max_lifetime_s"),
    ("CDS_LOG_LEVEL", "log_level"),
])
def test_documented_defaults_are_the_codes(name: str, field: str) -> None:
    value = getattr(Settings(), field)
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    assert README[name][0] == f"`{shown}`"


@pytest.mark.parametrize("name", ["CDS_TRUSTED_ISSUERS", "CDS_CORS_ORIGINS", "CDS_FHIR_ALLOWED", "CDS_OPERATOR_TOKEN",
                                  "CDS_SHADOW_ISSUERS"])
def test_settings_without_a_default_say_none(name: str) -> None:
    assert README[name][0] == "none"


def test_gunicorn_defaults_are_the_documented_ones() -> None:
    defaults = dict(_GET.findall((ROOT / "deploy/gunicorn.conf.py").read_text(encoding="utf-8")))
    assert README["CDS_BIND"][0] == f"`{defaults['CDS_BIND']}`"
    assert README["CDS_THREADS"][0] == f"`{Settings().threads}`"
    assert "Settings.request_threads(os.environ)" in (ROOT / "deploy/gunicorn.conf.py").read_text()
    assert "multiprocessing.cpu_count() * 2 + 1" in (ROOT / "deploy/gunicorn.conf.py").read_text()
    assert README["CDS_WORKERS"][0] == "2 × CPUs + 1"
    assert Settings().database_url.endswith("/bzd-taper-cds.db")
    assert README["DATABASE_URL"][0] == "`sqlite:///<CDS_DATA_DIR>/bzd-taper-cds.db`"


def test_settings_depend_on_no_part_of_the_service_they_configure() -> None:
    """``Settings`` is read by every layer, so it imports none of them (only the clinical core's names of the
    profiles and tables it validates): a setting is read through it, not from the environment by the module
    that needs it."""
    import ast

    tree = ast.parse((ROOT / "cds_service/config.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    service = [m for m in imported if m.startswith("cds_service")]
    assert service and all(m.startswith("cds_service.clinical.") for m in service)
    environ_readers = [path.relative_to(ROOT).as_posix() for path in (ROOT / "cds_service").rglob("*.py")
                       if "os.environ" in path.read_text(encoding="utf-8") and path.name != "config.py"]
    # prometheus_client's own variable, which the library reads itself
    assert environ_readers == ["cds_service/metrics.py"]

"""The service as users install it: the wheel, built from the sources, installed into a fresh virtualenv
outside the checkout, served by gunicorn with the deployment config (as the Dockerfile does).

A file the service reads at run time but the wheel lacks (a template, a data table, a migration) shows up
here as a failing endpoint, not as a 500 in production. The fresh environment gets the wheel itself
(``--no-deps``) and borrows the third-party packages of the test environment through a path entry, so no
network is needed; ``cds_service`` is imported from the installed wheel, never from the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cds_service.version import knowledge_version, package_version
from tests.utils.scenarios import request as scenario_request
from tests.utils.server import ROOT, gunicorn


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtualenv holding only the built wheel (and a path to the dependencies)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    # What `docker build` copies (deploy/Dockerfile): nothing else of the checkout reaches the wheel.
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "cds_service", source / "cds_service",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dist), str(source)], check=True, cwd=work)
    (wheel,) = dist.glob("bzd_taper_cds-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, cwd=work)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # A plain path line: the test environment's own .pth files (its editable install of the checkout) are
    # not processed, and the venv's site-packages comes first on sys.path.
    (site / "dependencies-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture(scope="module")
def served(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("wheel-data")
    with gunicorn({"CDS_AUTH": "optional", "CDS_TRUSTED_ISSUERS": str(ROOT / "dev/trusted-issuers.dev.json"),
                   "CDS_DATA_DIR": str(data), "DATABASE_URL": f"sqlite:///{data}/cds.db"},
                  python=installed, cwd=data) as base:
        yield base


def test_the_package_is_imported_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(installed), "-c", "import cds_service; print(cds_service.__file__)"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(installed.parents[1])
    assert not Path(where).is_relative_to(ROOT)


def test_console_script_prints_the_version(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(installed.parent / "bzd-taper-cds"), "--version"], check=True,
                         capture_output=True, text=True, cwd=tmp_path).stdout
    # the wheel carries the same knowledge as the source tree: the same content hash
    assert out.strip() == f"bzd-taper-cds {package_version()} (knowledge {knowledge_version()})"


def test_every_endpoint_answers_from_the_wheel(served: str) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/analytics"):
        assert requests.get(served + path, timeout=10).status_code == 200, path
    services = requests.get(f"{served}/cds-services", timeout=10).json()["services"]
    assert {s["id"] for s in services} == {"bzd-taper-order-sign", "bzd-taper-order-select",
                                           "bzd-taper-medication-prescribe"}

    page = requests.get(f"{served}/taper-plan", timeout=10, params={
        "drug": "diazepam", "dose": "20", "profile": "summary", "long_term": "no", "age": "under-65",
        "doses_per_day": "2"})
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<table" in page.text

    preflight = requests.options(f"{served}/cds-services/bzd-taper-order-sign", timeout=10, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code in (200, 204)

    body = scenario_request("baclofen-adjunct-during-diazepam-taper")
    answer = requests.post(f"{served}/cds-services/bzd-taper-order-sign", json=body, timeout=10)
    assert answer.status_code == 200
    (card,) = answer.json()["cards"]
    assert card["source"]["topic"]["code"] == "baclofen-adjunct"

    feedback = {"feedback": [{"card": card["uuid"], "outcome": "accepted",
                              "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                              "outcomeTimestamp": "2026-03-16T10:00:00Z"}]}
    stored = requests.post(f"{served}/cds-services/bzd-taper-order-sign/feedback", json=feedback, timeout=10)
    assert stored.status_code == 200, stored.text
    unknown = requests.post(f"{served}/cds-services/{uuid.uuid4()}", json=body, timeout=10)
    assert unknown.status_code == 404


def test_the_wheel_carries_its_licence(installed: Path, tmp_path: Path) -> None:
    script = ("from importlib.metadata import distribution; d = distribution('bzd-taper-cds'); "
              "print(d.metadata['License-Expression']); "
              "print(any(str(f).endswith('licenses/LICENSE') for f in d.files))")
    out = subprocess.run([str(installed), "-c", script], check=True, capture_output=True, text=True,
                         cwd=tmp_path).stdout.split()
    assert out == ["Apache-2.0", "True"]

"""Write every scenario's whole response, under every taper profile and equivalence table, to one folder.

A refactoring that must not change what a prescriber reads is checked by comparing two such folders::

    .venv/bin/python scripts/snapshot.py /tmp/before      # on the commit before the change
    .venv/bin/python scripts/snapshot.py /tmp/after       # on the change
    diff -r /tmp/before /tmp/after                    # no output: every card byte-for-byte the same

Each scenario runs as its ``expected.json`` configures it, then under each profile × table combination (the
scenario's own settings win where it names one). Card uuids are keyed per installation and replaced by
``<uuid>``, and the knowledge version's content hash (``+k`` and 10 hex digits, which changes with any rule
module) by ``+k<hash>``; everything else is written as the service answered it. Files are named by the scenario
folder's own name, so that moving scenarios into group folders changes no file name.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CDS_DATA_DIR", tempfile.mkdtemp(prefix="bzd-taper-cds-snapshot-"))
os.environ.setdefault("CDS_PATIENT_HASH_KEY", "snapshot-patient-hash-key-" + "0" * 32)
os.environ.setdefault("CDS_TAPER_PROFILE", "summary")

from cds_service import create_app  # noqa: E402
from cds_service.db import engine_for, migrate  # noqa: E402

PROFILES = ("summary", "joint-2025")
TABLES = ("ashton", "va-dod")
_KNOWLEDGE_HASH = re.compile(r"\+k[0-9a-f]{10}\b")


def _without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<uuid>" if k == "uuid" else _without_uuids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scenarios = sorted(p.parent for p in (ROOT / "fhir_fixtures").rglob("expected.json"))
    with tempfile.TemporaryDirectory() as scratch:
        for (profile, table), scenario in itertools.product(itertools.product(PROFILES, TABLES), scenarios):
            expected = json.loads((scenario / "expected.json").read_text(encoding="utf-8"))
            settings = {"taper_profile": profile, "equivalence_table": table, **expected.get("settings", {})}
            url = f"sqlite:///{scratch}/{profile}-{table}-{scenario.name}.db"
            migrate(url)
            app = create_app({"auth": "off", **settings, "database_url": url})
            body = (scenario / "request.json").read_bytes()
            response = app.test_client().post(f"/cds-services/{expected['service']}", data=body,
                                              content_type="application/json")
            app.config["CARD_LOG"].flush()
            engine_for(url).dispose()
            answer = _without_uuids(response.get_json()) if response.is_json else response.get_data(as_text=True)
            text = json.dumps({"status": response.status_code, "body": answer}, indent=1, ensure_ascii=False)
            (out / f"{profile}.{table}.{scenario.name}.json").write_text(
                _KNOWLEDGE_HASH.sub("+k<hash>", text) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/snapshot.py OUTPUT_FOLDER")
    main(Path(sys.argv[1]))

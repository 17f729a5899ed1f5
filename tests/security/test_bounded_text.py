"""A hostile medication text cannot hold a worker: every FHIR text is capped before a pattern reads it and
every pattern is linear (README "Security": hostile input). Each call runs in a child process with a hard
timeout, because a regular-expression search cannot be interrupted from inside the process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HookCalls
from tests.utils.fhir import DIAZEPAM_5_MG_TABLET, medication_request

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_TEXT = "diazepam " + "1" * 20_000
CHILD = """
import json, sys
from cds_service import create_app
app = create_app({"auth": "off", "database_url": sys.argv[1]})  # the test's own database
response = app.test_client().post("/cds-services/bzd-taper-order-sign", json=json.load(sys.stdin))
print(response.status_code)
"""
HARD_LIMIT_S = 20
"""Far above the few hundred milliseconds the call needs (most of it importing the app), far below the
minutes a quadratic search over 20,000 digits takes for each of the texts below."""


def _text_only(resource: dict[str, Any]) -> dict[str, Any]:
    resource["medicationCodeableConcept"] = {"text": HOSTILE_TEXT}
    resource["dosageInstruction"][0]["text"] = HOSTILE_TEXT
    return resource


def _hostile_request(where: str) -> dict[str, Any]:
    draft = medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=2, authored_on="2026-03-16",
                               status="draft", id="d1")
    statement = {
        "resourceType": "MedicationStatement", "id": "ms1", "status": "active",
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-01-01",
        "medicationCodeableConcept": {"text": HOSTILE_TEXT}, "dosage": [{"text": HOSTILE_TEXT}],
    }
    if where == "draft":
        return HookCalls.request(drafts=[_text_only(draft)])
    return HookCalls.request(drafts=[draft], statements=[statement])


@pytest.mark.parametrize("where", ["draft", "statement"])
def test_twenty_thousand_digits_in_a_medication_text_are_answered_quickly(where: str, database_url: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, database_url], input=json.dumps(_hostile_request(where)), capture_output=True,
        text=True, cwd=ROOT, timeout=HARD_LIMIT_S, check=False)
    assert completed.stdout.strip() == "200", completed.stderr[-2000:]

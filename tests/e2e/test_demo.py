"""The integration tester's path (issue #8 item 4): the service fetches a demo patient's record from the demo
FHIR server (no prefetch at all, as a client that prefetches nothing would call it) and answers with the card."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from demo.fhir_server import create_app as demo_app
from tests.utils.fhir import baclofen_draft
from tests.utils.server import ROOT, free_port, gunicorn


@pytest.fixture(scope="module")
def demo_fhir() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                                "--workers", "1", "demo.fhir_server:create_app()"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/metadata", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_service_fetches_the_demo_patient_and_shows_the_baclofen_card(demo_fhir: str, tmp_path: Path) -> None:
    draft = {**baclofen_draft(), "subject": {"reference": "Patient/demo-diazepam-taper"}}
    body = {"hook": "order-sign", "hookInstance": str(uuid.uuid4()), "fhirServer": demo_fhir,
            "context": {"patientId": "demo-diazepam-taper", "userId": "Practitioner/example",
                        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}}}
    with gunicorn({"CDS_AUTH": "off", "DATABASE_URL": f"sqlite:///{tmp_path}/cds.db"}, workers=1) as service:
        response = requests.post(f"{service}/cds-services/bzd-taper-order-sign", json=body, timeout=10)
    assert response.status_code == 200
    [card] = response.json()["cards"]
    assert card["source"]["topic"]["code"] == "baclofen-adjunct"
    assert "reduced from 15 mg to 12 mg diazepam-equivalent/day on 2026-03-02" in card["detail"]


@pytest.fixture
def demo_client() -> FlaskClient:
    return demo_app().test_client()


def test_demo_server_metadata_read_search_and_cors(demo_client: FlaskClient) -> None:
    metadata = demo_client.get("/fhir/metadata").get_json()
    assert metadata["resourceType"] == "CapabilityStatement" and metadata["fhirVersion"] == "4.0.1"
    patient = demo_client.get("/fhir/Patient/demo-older-adult", headers={"Origin": "http://localhost:3000"})
    assert patient.get_json()["birthDate"] == "1945-10-01"
    assert patient.headers["Access-Control-Allow-Origin"] == "*"
    assert patient.headers["Content-Type"].startswith("application/fhir+json")
    orders = demo_client.get("/fhir/MedicationRequest?patient=demo-older-adult").get_json()
    assert orders["total"] == 1 and orders["type"] == "searchset"
    posted = demo_client.post("/fhir/Observation/_search",
                              data={"patient": "demo-renal", "code": "http://loinc.org|2160-0"}).get_json()
    assert posted["total"] == 1
    assert demo_client.get("/fhir/Patient/nobody").status_code == 404

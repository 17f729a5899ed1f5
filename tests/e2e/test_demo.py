"""The README walkthrough on today's date: every demo patient, served by the demo FHIR server with its dates
rolled to today, ordered as the README says (the scenario's draft orders, stamped with today's date as the
CDS Hooks sandbox stamps them), answers with the cards its scenario promises. The service fetches the record
itself (no prefetch), as from a client that prefetches nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from cds_service.clinical.cards import CARD_TYPES
from demo.fhir_server import create_app as demo_app
from demo.fhir_server import demo_patients, hook_request, shift_dates, today_utc
from tests.utils.server import ROOT, free_port, gunicorn, wait_until_ready

CARD_TYPES_WITH_A_DEMO_PATIENT = {card["type"] for p in demo_patients().values() for card in p.expected["cards"]}


@pytest.fixture(scope="module")
def demo_fhir() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                                "--workers", "1", "demo.fhir_server:create_app()"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        assert wait_until_ready(f"{base}/metadata", process=process), "the demo FHIR server did not start"
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("demo-service")
    with gunicorn({"CDS_AUTH": "off", "DATABASE_URL": f"sqlite:///{data}/cds.db"}, workers=1) as base:
        yield base


def _order_today(service: str, demo_fhir: str, patient_id: str) -> tuple[date, list[dict[str, Any]]]:
    """The patient's scenario ordered today; asked again if the UTC date turned during the call."""
    for _ in range(2):
        today = today_utc()
        body = hook_request(patient_id, demo_fhir, today)
        response = requests.post(f"{service}/cds-services/bzd-taper-order-sign", json=body, timeout=20)
        assert response.status_code == 200, response.text
        if today_utc() == today:
            return today, response.json()["cards"]
    raise AssertionError("the date kept changing")


@pytest.mark.parametrize("patient_id", sorted(demo_patients()))
def test_every_demo_patient_shows_its_promised_cards_today(service: str, demo_fhir: str, patient_id: str) -> None:
    expected = demo_patients()[patient_id].expected
    _, cards = _order_today(service, demo_fhir, patient_id)
    assert [(c["source"]["topic"]["code"], c["indicator"]) for c in cards] == [
        (want["type"], want["indicator"]) for want in expected["cards"]]
    assert not {c["source"]["topic"]["code"] for c in cards} & set(expected.get("absent", []))


def test_the_baclofen_card_names_the_reduction_two_weeks_before_today(service: str, demo_fhir: str) -> None:
    today, [card] = _order_today(service, demo_fhir, "demo-diazepam-taper")
    assert card["source"]["topic"]["code"] == "baclofen-adjunct"
    assert f"on {(today - timedelta(days=14)).isoformat()}" in card["detail"]


def test_demo_patients_cover_every_card_type() -> None:
    assert set(CARD_TYPES) == CARD_TYPES_WITH_A_DEMO_PATIENT


@pytest.fixture
def demo_client() -> FlaskClient:
    return demo_app(today=lambda: date(2030, 1, 15)).test_client()


def test_demo_server_rolls_every_date_to_the_day_it_serves(demo_client: FlaskClient) -> None:
    # The older adult's scenario is dated 2026-03-16; served on 2030-01-15 every date moves by 1401 days.
    patient = demo_client.get("/fhir/Patient/demo-older-adult").get_json()
    assert patient["birthDate"] == "1949-08-02"  # 1945-10-01 in the scenario: still 80 on the order date
    [order] = demo_client.get("/fhir/MedicationRequest?patient=demo-older-adult").get_json()["entry"]
    assert order["resource"]["authoredOn"] == "2019-12-03"  # 2016-02-01 in the scenario: ten years before


def test_shift_keeps_times_and_leaves_other_strings() -> None:
    value = {"a": "2026-03-16T08:30:00Z", "b": ["2026-02-28", "diazepam 2026-03-16 text", "2026"], "c": 5}
    assert shift_dates(value, 1) == {"a": "2026-03-17T08:30:00Z", "b": ["2026-03-01", "diazepam 2026-03-16 text",
                                                                        "2026"], "c": 5}


def test_demo_server_metadata_read_search_and_cors(demo_client: FlaskClient) -> None:
    metadata = demo_client.get("/fhir/metadata").get_json()
    assert metadata["resourceType"] == "CapabilityStatement" and metadata["fhirVersion"] == "4.0.1"
    patient = demo_client.get("/fhir/Patient/demo-older-adult", headers={"Origin": "http://localhost:3000"})
    assert patient.headers["Access-Control-Allow-Origin"] == "*"
    assert patient.headers["Content-Type"].startswith("application/fhir+json")
    orders = demo_client.get("/fhir/MedicationRequest?patient=demo-older-adult").get_json()
    assert orders["total"] == 1 and orders["type"] == "searchset"
    posted = demo_client.post("/fhir/Observation/_search",
                              data={"patient": "demo-renal", "code": "http://loinc.org|2160-0"}).get_json()
    assert posted["total"] == 1
    assert demo_client.get("/fhir/Patient/nobody").status_code == 404


def test_the_offline_demo_request_is_the_demo_patient_on_its_order_date() -> None:
    """demo/order-baclofen.json (README, ``bzd-taper-cds evaluate``) carries the record at the scenario's own
    dates and its order date, so it gives the same answer on any day without a FHIR server."""
    patient = demo_patients()["demo-diazepam-taper"]
    on_file = json.loads((ROOT / "demo/order-baclofen.json").read_text(encoding="utf-8"))
    generated = hook_request(patient.id, None, patient.anchor, with_prefetch=True)
    assert {**on_file, "hookInstance": ""} == {**generated, "hookInstance": ""}


def test_hook_request_command_prints_a_call_for_today(capsys: pytest.CaptureFixture[str]) -> None:
    from demo.hook_request import main

    assert main(["demo-insomnia", "--fhir-server", "http://127.0.0.1:9/fhir", "--on", "2031-05-05"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["fhirServer"] == "http://127.0.0.1:9/fhir" and "prefetch" not in body
    [entry] = body["context"]["draftOrders"]["entry"]
    assert entry["resource"]["authoredOn"] == "2031-05-05"
    assert body["context"]["patientId"] == "demo-insomnia"


def test_readme_lists_every_demo_patient_with_its_order() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for patient in demo_patients().values():
        assert f"`{patient.id}`" in readme and patient.order in readme, patient.id

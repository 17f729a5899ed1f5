"""Each trusted EHR (JWT ``iss``) is a tenant (docs/service-contract.md §9): its card log, feedback, snooze and
analytics are its own. Two issuers call the same service about the same patient id; neither can see, answer
or silence the other's cards. On the embedded SQLite store and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.db import engine_for
from cds_service.feedback.repository import count_feedback, patient_hash, snoozed_card_types
from tests.conftest import HookCalls, app_on, card_types
from tests.utils.ehr import BASE, Ehr, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12

EHR_A, EHR_B = "https://ehr-a.example", "https://ehr-b.example"
SYSTEM = "urn:bzd-taper-cds:override-reason"
OPERATOR_TOKEN = "operator-" + "0123456789abcdef" * 3


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """Two EHRs of one installation, on the test's own SQLite database or a fresh PostgreSQL one."""
    url = request.getfixturevalue("fresh_database" if request.param == "postgresql" else "database_url")
    with app_on(url, {"auth": "required", "trusted_issuers_file": trust_file(tmp_path, {EHR_A: {}, EHR_B: {}}),
                      "public_base_url": BASE, "operator_token": OPERATOR_TOKEN}) as app:
        yield app


class Clinic(Ehr):
    def cards(self, patient_id: str = "p1", fhir_server: str | None = None) -> list[dict[str, Any]]:
        body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id=patient_id)
        if fhir_server:
            body["fhirServer"] = fhir_server
        response = self.call(body)
        assert response.status_code == 200, response.get_json()
        return list(response.get_json()["cards"])


@pytest.fixture
def ehr_a(app: Flask) -> Clinic:
    return Clinic(app.test_client(), EHR_A)


@pytest.fixture
def ehr_b(app: Flask) -> Clinic:
    return Clinic(app.test_client(), EHR_B)


def snooze(card: dict[str, Any], when: str | None = None) -> dict[str, Any]:
    return {"card": card["uuid"], "outcome": "overridden",
            "outcomeTimestamp": when or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "overrideReason": {"reason": {"code": "patient-specific-plan", "system": SYSTEM}}}


def stored(app: Flask) -> int:
    return count_feedback(engine_for(app.config["SETTINGS"].database_url))


def test_a_client_cannot_answer_another_clients_card(app: Flask, ehr_a: Clinic, ehr_b: Clinic) -> None:
    [card] = ehr_a.cards()
    response = ehr_b.feedback(snooze(card))
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["diagnostics"] == f"unknown card {card['uuid']}"
    assert stored(app) == 0
    assert card_types(ehr_a.cards()) == [("baclofen-adjunct", "warning")]


def test_a_clients_snooze_silences_only_its_own_cards(ehr_a: Clinic, ehr_b: Clinic) -> None:
    [card_b] = ehr_b.cards()
    assert ehr_b.feedback(snooze(card_b)).status_code == 200
    assert ehr_b.cards() == []
    assert card_types(ehr_a.cards()) == [("baclofen-adjunct", "warning")]


def test_the_same_patient_id_on_another_fhir_server_is_another_patient(ehr_a: Clinic) -> None:
    [card] = ehr_a.cards(fhir_server="https://site-1.example/fhir")
    assert ehr_a.feedback(snooze(card)).status_code == 200
    assert ehr_a.cards(fhir_server="https://site-1.example/fhir") == []
    assert card_types(ehr_a.cards(fhir_server="https://site-2.example/fhir")) == [("baclofen-adjunct", "warning")]


def test_feedback_only_on_the_service_that_issued_the_card(app: Flask, ehr_a: Clinic) -> None:
    [card] = ehr_a.cards()
    assert ehr_a.feedback(snooze(card), service="bzd-taper-order-select").status_code == 400
    assert stored(app) == 0


def test_accepted_suggestions_must_be_the_cards_own(app: Flask, ehr_a: Clinic) -> None:
    [card] = ehr_a.cards()
    [other] = ehr_a.cards("p2")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    foreign = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": now,
               "acceptedSuggestions": [{"id": other["suggestions"][0]["uuid"]}]}
    response = ehr_a.feedback(foreign)
    assert response.status_code == 400
    assert "has no suggestion" in response.get_json()["issue"][0]["diagnostics"]
    own = {**foreign, "acceptedSuggestions": [{"id": card["suggestions"][1]["uuid"]}]}
    assert ehr_a.feedback(own).status_code == 200
    assert stored(app) == 1


def test_a_far_future_outcome_time_snoozes_for_the_snooze_period_only(app: Flask, ehr_a: Clinic) -> None:
    [card] = ehr_a.cards()
    assert ehr_a.feedback(snooze(card, "9000-01-01T00:00:00Z")).status_code == 200
    engine = engine_for(app.config["SETTINGS"].database_url)
    hashed = patient_hash(engine, "p1", app.config["SETTINGS"].patient_hash_key)
    assert snoozed_card_types(engine, hashed, 90, EHR_A) == {"baclofen-adjunct"}
    later = datetime.now(UTC) + timedelta(days=91)
    assert snoozed_card_types(engine, hashed, 90, EHR_A, now=later) == frozenset()


def test_an_outcome_time_before_the_card_counts_from_the_card(app: Flask, ehr_a: Clinic) -> None:
    [card] = ehr_a.cards()
    assert ehr_a.feedback(snooze(card, "2001-01-01T00:00:00Z")).status_code == 200
    assert ehr_a.cards() == [], "an override cannot predate the card it answers, so it snoozes from now"


def test_an_outcome_time_beyond_year_9999_in_utc_is_400(app: Flask, ehr_a: Clinic) -> None:
    [card] = ehr_a.cards()
    response = ehr_a.feedback(snooze(card, "9999-12-31T23:59:59-05:00"))
    assert response.status_code == 400
    assert "outcomeTimestamp is out of range" in response.get_json()["issue"][0]["diagnostics"]
    assert ehr_a.analytics()["baclofen-adjunct"]["shown"] == 1


def test_analytics_shows_a_client_its_own_cards_and_the_operator_all(app: Flask, ehr_a: Clinic, ehr_b: Clinic) -> None:
    for n in range(3):
        ehr_a.cards(f"a{n}")
    [card_b] = ehr_b.cards()
    assert ehr_b.feedback(snooze(card_b)).status_code == 200
    assert ehr_a.analytics()["baclofen-adjunct"]["shown"] == 3
    assert ehr_a.analytics()["baclofen-adjunct"]["overridden"] == 0
    assert (ehr_b.analytics()["baclofen-adjunct"]["shown"], ehr_b.analytics()["baclofen-adjunct"]["overridden"]) \
        == (1, 1)
    client = app.test_client()
    everyone = client.get("/analytics", headers={"Authorization": f"bearer {OPERATOR_TOKEN}"})
    assert everyone.status_code == 200
    assert everyone.get_json()["card_types"]["baclofen-adjunct"]["shown"] == 4
    assert client.get("/analytics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN[:-1]}x"}).status_code == 401
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).status_code == 401

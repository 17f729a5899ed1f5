"""Rotating ``CDS_PATIENT_HASH_KEY``: the previous key stays accepted until
``CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL`` — for the patient hashes (snoozes made before the rotation still apply)
and for the card uuids' MAC (feedback on cards shown before it is still accepted) — and not after
(README "Security": keys and secrets)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete

from cds_service.config import Settings, SettingsError
from cds_service.db import engine_for
from cds_service.feedback.models import card_log
from tests.conftest import HookCalls, MakeApp
from tests.utils.ehr import BASE, Ehr, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12

ISSUER = "https://ehr.example"
OLD, NEW = "old-key-" + "0123456789abcdef" * 2, "new-key-" + "fedcba9876543210" * 2
SYSTEM = "urn:bzd-taper-cds:override-reason"
OPERATOR = "operator-" + "9876543210abcdef" * 2


@pytest.fixture
def app_with_keys(tmp_path: Path, make_app: MakeApp) -> Iterator[Any]:
    apps: list[Flask] = []
    trust = trust_file(tmp_path, {ISSUER: {}})

    def make(key: str, previous: str | None = None, until: datetime | None = None) -> Ehr:
        app = make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE,
                        "patient_hash_key": key, "previous_patient_hash_key": previous, "previous_key_until": until,
                        "operator_token": OPERATOR})
        apps.append(app)
        return Ehr(app.test_client(), ISSUER)

    yield make
    for app in apps:
        app.config["CARD_LOG"].flush()


def baclofen_call(patient_id: str = "p1") -> dict[str, Any]:
    return HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id=patient_id)


def snooze(card: dict[str, Any]) -> dict[str, Any]:
    return {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": datetime.now(UTC).isoformat(),
            "overrideReason": {"reason": {"code": "patient-specific-plan", "system": SYSTEM}}}


def card_of(ehr: Ehr, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = ehr.call(body)
    assert response.status_code == 200, response.get_json()
    cards: list[dict[str, Any]] = response.get_json()["cards"]
    return cards


def test_the_previous_key_is_accepted_until_its_date_then_not(app_with_keys: Any, database_url: str) -> None:
    before = app_with_keys(OLD)
    [snoozed] = card_of(before, baclofen_call("p1"))
    assert before.feedback(snooze(snoozed)).status_code == 200
    [unanswered] = card_of(before, baclofen_call("p2"))
    before.client.application.config["CARD_LOG"].flush()
    with engine_for(database_url).begin() as connection:  # its row lost (a killed worker):
        connection.execute(delete(card_log).where(card_log.c.card_uuid == unanswered["uuid"]))  # only the MAC

    rotating = app_with_keys(NEW, OLD, datetime.now(UTC) + timedelta(days=90))
    assert card_of(rotating, baclofen_call("p1")) == [], "the snooze made under the previous key still applies"
    assert rotating.feedback(snooze(unanswered)).status_code == 200, "the previous key's card uuid is proven"
    [fresh] = card_of(rotating, baclofen_call("p3"))
    assert rotating.feedback(snooze(fresh)).status_code == 200
    assert card_of(rotating, baclofen_call("p3")) == [], "snoozes under the new key apply"

    expired = app_with_keys(NEW, OLD, datetime.now(UTC) - timedelta(seconds=1))
    assert len(card_of(expired, baclofen_call("p1"))) == 1, "past its date the previous key is not read"
    refused = expired.feedback({**snooze(unanswered), "outcomeTimestamp": datetime.now(UTC).isoformat()})
    assert refused.status_code == 400 and "unknown card" in refused.get_json()["issue"][0]["diagnostics"]
    assert card_of(expired, baclofen_call("p3")) == []


@pytest.mark.parametrize(("env", "message"), [
    ({"CDS_PATIENT_HASH_KEY_PREVIOUS": OLD}, "needs CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL"),
    ({"CDS_PATIENT_HASH_KEY_PREVIOUS": NEW, "CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL": "2027-03-01"}, "and different"),
    ({"CDS_PATIENT_HASH_KEY_PREVIOUS": OLD, "CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL": "in three months"}, "ISO 8601"),
])
def test_an_incomplete_rotation_is_refused_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"CDS_PATIENT_HASH_KEY": NEW, **env})


def test_the_until_date_is_read_as_utc() -> None:
    settings = Settings.from_env({"CDS_PATIENT_HASH_KEY": NEW, "CDS_PATIENT_HASH_KEY_PREVIOUS": OLD,
                                  "CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL": "2027-03-01"})
    assert settings.previous_key(datetime(2027, 2, 28, 23, 59, tzinfo=UTC)) == OLD
    assert settings.previous_key(datetime(2027, 3, 1, tzinfo=UTC)) is None


def test_during_a_rotation_the_operator_lists_and_clears_snoozes_made_under_the_previous_key(
        app_with_keys: Any) -> None:
    """Named by ``patientId``, a patient has a hash under each key: a clear that looked at the new one only
    left the snooze made before the rotation silencing the card."""
    before = app_with_keys(OLD)
    [card] = card_of(before, baclofen_call("p1"))
    assert before.feedback(snooze(card)).status_code == 200
    rotating = app_with_keys(NEW, OLD, datetime.now(UTC) + timedelta(days=90))
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    listed = rotating.client.get(f"/snoozes?patientId=p1&client={ISSUER}", headers=operator).get_json()
    assert [s["cardType"] for s in listed["snoozes"]] == ["baclofen-adjunct"]
    cleared = rotating.client.delete(f"/snoozes?patientId=p1&client={ISSUER}", headers=operator)
    assert cleared.status_code == 200 and cleared.get_json() == {"cleared": 1}
    assert len(card_of(rotating, baclofen_call("p1"))) == 1, "the card shows again"

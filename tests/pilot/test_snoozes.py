"""Operators see and clear snoozes (per patient and card type, scoped to the EHR that snoozed), and the log says
which card a snooze kept from a call, and since when."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.cli import main as cli
from tests.api.test_feedback import FEEDBACK, baclofen_card, overridden
from tests.conftest import HookCalls, MakeApp
from tests.utils.ehr import Ehr, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12

OPERATOR = "operator-" + "0123456789abcdef" * 2
ISSUER = "https://ehr.example"


@pytest.fixture
def store(database_url: str, monkeypatch: pytest.MonkeyPatch, make_app: MakeApp) -> Flask:
    monkeypatch.setenv("DATABASE_URL", database_url)  # the command line reads the same store
    return make_app({"auth": "off", "operator_token": OPERATOR})


def snooze_baclofen(client: FlaskClient, patient_id: str) -> dict[str, Any]:
    card = baclofen_card(client, patient_id)
    assert client.post(FEEDBACK, json={"feedback": [overridden(card, "not-applicable")]}).status_code == 200
    return card


def cards_for(client: FlaskClient, patient_id: str) -> list[str]:
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id=patient_id)
    return [c["source"]["topic"]["code"] for c in HookCalls(client).cards(body)]


def test_the_log_says_which_card_a_snooze_kept_and_since_when(store: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = store.test_client()
    snooze_baclofen(client, "p1")
    with caplog.at_level(logging.INFO, logger="cds_service.api.hooks"):
        assert cards_for(client, "p1") == []
    first, snoozed_call = [r for r in caplog.records if r.getMessage() == "hook evaluated"]
    assert getattr(first, "snoozed", None) is None, "the first call showed the card"
    [snoozed] = snoozed_call.snoozed  # type: ignore[attr-defined]
    assert snoozed.startswith("baclofen-adjunct since 20") and snoozed.endswith("+00:00")


def test_the_operator_lists_and_clears_a_patients_snooze_over_http(store: Flask) -> None:
    client = store.test_client()
    snooze_baclofen(client, "p1")
    snooze_baclofen(client, "p2")
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    listing = client.get("/snoozes", headers=operator).get_json()
    assert listing["snoozeDays"] == 90
    assert sorted((s["cardType"], s["client"], s["overrides"]) for s in listing["snoozes"]) == [
        ("baclofen-adjunct", "", 1), ("baclofen-adjunct", "", 1)]
    [p1] = client.get("/snoozes?patientId=p1", headers=operator).get_json()["snoozes"]
    assert client.delete("/snoozes", headers=operator).status_code == 400, "a patient must be named"
    assert client.delete("/snoozes?patientId=p1&cardType=baclofen-adjunct&client=",
                         headers=operator).get_json() == {"cleared": 1}
    assert cards_for(client, "p1") == ["baclofen-adjunct"], "shown again"
    assert cards_for(client, "p2") == [], "another patient's snooze stays"
    assert [s["patientHash"] for s in client.get("/snoozes", headers=operator).get_json()["snoozes"]] != [
        p1["patientHash"]]
    report = client.get("/analytics", headers=operator).get_json()["card_types"]["baclofen-adjunct"]
    assert report["overridden"] == 2, "clearing a snooze keeps the feedback"


def test_a_client_sees_and_clears_only_its_own_snoozes(tmp_path: Path, make_app: MakeApp) -> None:
    app = make_app({"auth": "optional", "operator_token": OPERATOR,
                    "trusted_issuers_file": trust_file(tmp_path, {ISSUER: {}})})
    client = app.test_client()
    ehr = Ehr(client, ISSUER)
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id="p1")
    [card] = ehr.call(body).get_json()["cards"]
    assert ehr.feedback(overridden(card, "specialist-managing")).status_code == 200
    assert client.get("/snoozes").get_json()["snoozes"] == [], "a caller without a token is another client"
    assert client.delete("/snoozes?patientId=p1").get_json() == {"cleared": 0}
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    [snooze] = client.get(f"/snoozes?client={ISSUER}", headers=operator).get_json()["snoozes"]
    assert (snooze["client"], snooze["cardType"]) == (ISSUER, "baclofen-adjunct")
    mine = client.get("/snoozes", headers=ehr.headers("/snoozes")).get_json()["snoozes"]
    assert mine == [snooze]
    assert ehr.call(body).get_json()["cards"] == []
    assert client.delete("/snoozes?patientId=p1", headers=ehr.headers("/snoozes")).get_json() == {"cleared": 1}
    assert [c["source"]["topic"]["code"] for c in ehr.call(body).get_json()["cards"]] == ["baclofen-adjunct"]
    app.config["CARD_LOG"].flush()


def test_the_command_line_lists_and_clears(store: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    client = store.test_client()
    snooze_baclofen(client, "p1")
    store.config["CARD_LOG"].flush()
    assert cli(["snoozes", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["cardType"], listed["client"]) == ("baclofen-adjunct", "")
    assert cli(["snoozes", "--clear", "--patient", "p1"]) == 2
    assert "--client" in capsys.readouterr().err
    assert cli(["snoozes", "--clear", "--patient", "p1", "--client", ""]) == 0
    assert capsys.readouterr().out == ("cleared 1 snoozing override(s) of every card type for this patient and "
                                       "client ''; the cards show again on the next call\n")
    assert cli(["snoozes"]) == 0
    assert capsys.readouterr().out == "no active snoozes\n"
    assert cards_for(client, "p1") == ["baclofen-adjunct"]

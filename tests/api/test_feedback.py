"""Feedback (CDS Hooks 2.0 "Feedback"), the card log, snooze and analytics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cds_service.cli import main as cli
from cds_service.db import engine_for
from cds_service.feedback.models import feedback
from cds_service.feedback.repository import count_feedback, patient_hash, snoozed_card_types
from tests.conftest import HookCalls, app_on, card_types
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.scenarios import request as scenario_request

SYSTEM = "urn:bzd-taper-cds:override-reason"
FEEDBACK = "/cds-services/bzd-taper-order-sign/feedback"


@pytest.fixture
def store_app(request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The test's own SQLite store; parametrized indirectly with "postgresql" for a fresh PostgreSQL database."""
    postgresql = getattr(request, "param", "sqlite") == "postgresql"
    url = request.getfixturevalue("fresh_database" if postgresql else "database_url")
    with app_on(url) as app:  # its card log flushed before the database is dropped, not at interpreter exit
        yield app


both_stores = pytest.mark.parametrize("store_app", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def client(store_app: Flask) -> FlaskClient:
    return store_app.test_client()


def baclofen_card(client: FlaskClient, patient_id: str = "p1") -> dict[str, Any]:
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id=patient_id)
    [card] = HookCalls(client).cards(body)
    return card


def now_iso(days_ago: int = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def overridden(card: dict[str, Any], code: str | None = None, days_ago: int = 0) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": now_iso(days_ago)}
    if code:
        item["overrideReason"] = {"reason": {"code": code, "system": SYSTEM}}  # the sandbox sends no display
    return item


def post(client: FlaskClient, *items: dict[str, Any]) -> Any:
    return client.post(FEEDBACK, json={"feedback": list(items)})


def stored(app: Flask) -> int:
    return count_feedback(engine_for(app.config["SETTINGS"].database_url))


def test_sandbox_style_feedback_is_stored(client: FlaskClient, store_app: Flask) -> None:
    card = baclofen_card(client)
    accepted = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": now_iso(),
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}
    comment_only = {**overridden(card, days_ago=1), "overrideReason": {"userComment": "discussed with patient"}}
    assert post(client, accepted).status_code == 200
    assert post(client, overridden(card)).status_code == 200
    assert post(client, comment_only).status_code == 200
    assert stored(store_app) == 3


def test_repeated_and_batched_feedback_is_stored_once(client: FlaskClient, store_app: Flask) -> None:
    first, second = baclofen_card(client), baclofen_card(client, "p2")
    batch = [overridden(first, "will-act"), overridden(second, "not-applicable")]
    assert post(client, *batch).status_code == 200
    assert post(client, *batch).status_code == 200
    assert post(client, batch[0]).status_code == 200
    assert stored(store_app) == 2


@pytest.mark.parametrize("item", [
    {"outcome": "dismissed"},
    {"outcome": "accepted"},
    {"outcome": "accepted", "acceptedSuggestions": []},
    {"outcomeTimestamp": "yesterday"},
    {"outcomeTimestamp": "2026-03-16T10:00:00"},
    {"overrideReason": {}},
    {"card": None},
])
def test_invalid_feedback_is_400_and_stores_nothing(client: FlaskClient, store_app: Flask,
                                                    item: dict[str, Any]) -> None:
    card = baclofen_card(client)
    response = post(client, overridden(card, "will-act"), {**overridden(card), **item})
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert stored(store_app) == 0


def test_feedback_for_an_unknown_card_is_400_and_the_batch_is_not_stored(client: FlaskClient,
                                                                        store_app: Flask) -> None:
    card = baclofen_card(client)
    response = post(client, overridden(card, "will-act"), {**overridden(card), "card": "0" * 36})
    assert response.status_code == 400 and "unknown card" in response.get_json()["issue"][0]["diagnostics"]
    assert stored(store_app) == 0


@pytest.mark.parametrize("body", [{"feedback": []}, {}, [], {"feedback": "x"}])
def test_malformed_feedback_bodies_are_400(client: FlaskClient, body: Any) -> None:
    assert client.post(FEEDBACK, json=body).status_code == 400


@both_stores
def test_patient_specific_plan_snoozes_the_card_type_for_that_patient(client: FlaskClient) -> None:
    card = baclofen_card(client)
    assert post(client, overridden(card, "patient-specific-plan")).status_code == 200
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    assert HookCalls(client).cards(body) == []
    other_patient = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id="p2")
    assert card_types(HookCalls(client).cards(other_patient)) == [("baclofen-adjunct", "warning")]


@both_stores
@pytest.mark.parametrize("code", ["will-act", None])
def test_no_snooze_for_will_act_or_without_reason(client: FlaskClient, code: str | None) -> None:
    card = baclofen_card(client)
    assert post(client, overridden(card, code)).status_code == 200
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    assert card_types(HookCalls(client).cards(body)) == [("baclofen-adjunct", "warning")]


@both_stores
def test_a_snooze_ends_after_the_snooze_period(client: FlaskClient, store_app: Flask) -> None:
    card = baclofen_card(client)
    assert post(client, overridden(card, "patient-specific-plan", days_ago=30)).status_code == 200
    engine = engine_for(store_app.config["SETTINGS"].database_url)
    hashed = patient_hash(engine, "p1", store_app.config["SETTINGS"].patient_hash_key)
    now = datetime.now(UTC)  # an override cannot predate its card: the 30 days back count from the card
    assert snoozed_card_types(engine, hashed, 90, now=now + timedelta(days=89)) == {"baclofen-adjunct"}
    assert snoozed_card_types(engine, hashed, 90, now=now + timedelta(days=91)) == frozenset()


@both_stores
def test_critical_cards_are_never_snoozed(client: FlaskClient) -> None:
    body = scenario_request("s04-lorazepam-stopped-abruptly")
    hooks = HookCalls(client)
    critical = next(c for c in hooks.cards(body) if c["indicator"] == "critical")
    assert post(client, overridden(critical, "patient-specific-plan")).status_code == 200
    assert "abrupt-discontinuation" in {c["source"]["topic"]["code"] for c in hooks.cards(body)}


def test_analytics_and_report_show_outcomes_per_card_type(client: FlaskClient, store_app: Flask,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cards = [baclofen_card(client, f"p{n}") for n in range(4)]
    accept = {"card": cards[0]["uuid"], "outcome": "accepted", "outcomeTimestamp": now_iso(),
              "acceptedSuggestions": [{"id": cards[0]["suggestions"][0]["uuid"]}]}
    assert post(client, accept, overridden(cards[1], "will-act"), overridden(cards[2], "will-act"),
                overridden(cards[3])).status_code == 200
    report = client.get("/analytics").get_json()["card_types"]["baclofen-adjunct"]
    assert (report["shown"], report["accepted"], report["overridden"], report["acceptance_rate"]) == (4, 1, 3, 0.25)
    assert report["top_override_reasons"] == [{"reason": "will-act", "count": 2},
                                              {"reason": "no reason given", "count": 1}]
    assert len(report["weekly_shown"]) == 8 and report["weekly_shown"][-1]["shown"] == 4
    monkeypatch.setenv("DATABASE_URL", store_app.config["SETTINGS"].database_url)
    assert cli(["report"]) == 0
    table = capsys.readouterr().out
    assert "baclofen-adjunct" in table and "25.0" in table and "will-act (2)" in table
    assert cli(["report", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["card_types"]["baclofen-adjunct"]["shown"] == 4


def test_analytics_reports_the_opioid_benzodiazepine_card(client: FlaskClient) -> None:
    body = scenario_request("own-opioid-oxycodone-taper-step")
    [card] = [c for c in HookCalls(client).cards(body) if c["source"]["topic"]["code"] == "opioid-benzodiazepine"]
    accept = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": now_iso(),
              "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}
    assert post(client, accept).status_code == 200
    report = client.get("/analytics").get_json()["card_types"]["opioid-benzodiazepine"]
    assert (report["shown"], report["accepted"], report["overridden"], report["acceptance_rate"]) == (1, 1, 0, 1.0)


@both_stores
def test_an_outcome_time_with_an_offset_is_stored_as_the_same_instant(client: FlaskClient, store_app: Flask) -> None:
    card = baclofen_card(client)
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    while datetime.now(UTC) < moment:  # the feedback time must not lie ahead of now (it would be clamped)
        time.sleep(0.05)
    new_york = moment.astimezone(timezone(timedelta(hours=-5)))
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": new_york.isoformat()}
    assert post(client, item).status_code == 200
    engine = engine_for(store_app.config["SETTINGS"].database_url)
    with engine.connect() as connection:
        stored_at = connection.execute(select(feedback.c.outcome_timestamp)).scalar_one()
    assert (stored_at if stored_at.tzinfo else stored_at.replace(tzinfo=UTC)) == moment


@both_stores
@pytest.mark.parametrize("spelling", [str.upper, lambda u: u.replace("-", ""), lambda u: "{" + u.upper() + "}"])
def test_feedback_naming_a_card_in_another_spelling_of_its_uuid_snoozes_it(
    client: FlaskClient, store_app: Flask, spelling: Callable[[str], str]
) -> None:
    """``uuid.UUID`` reads capitals, no hyphens and braces alike: stored as spelled, the feedback joined no
    card and the snooze was silently not applied."""
    card = baclofen_card(client)
    item = overridden(card, "patient-specific-plan")
    assert post(client, {**item, "card": spelling(card["uuid"])}).status_code == 200
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    assert HookCalls(client).cards(body) == []
    assert post(client, item).status_code == 200
    assert stored(store_app) == 1, "the same item in two spellings is one item"


def test_a_card_keeps_at_most_twenty_feedback_items(client: FlaskClient, store_app: Flask) -> None:
    card = baclofen_card(client)
    items = [{**overridden(card, "will-act"), "outcomeTimestamp": f"2026-01-01T00:00:{n:02d}Z"} for n in range(21)]
    assert post(client, *items[:20]).status_code == 200
    refused = post(client, items[20])
    assert refused.status_code == 400
    assert refused.get_json()["issue"][0]["diagnostics"] == (
        f"card {card['uuid']} already has 20 feedback items; nothing was stored")
    assert post(client, items[0]).status_code == 200, "an item already stored is still acknowledged"
    assert stored(store_app) == 20


@both_stores
def test_analytics_counts_in_the_database_not_row_by_row(store_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """5,000 cards with two outcomes each: the report is right, and a few rows per card type reach the
    service (every card and every outcome did: 300,000 cards cost 0.9 s of CPU and 2.2 s)."""
    from contextlib import contextmanager

    from sqlalchemy import insert

    from cds_service.feedback import analytics
    from cds_service.feedback.models import card_log, feedback

    engine = engine_for(store_app.config["SETTINGS"].database_url)
    now = datetime.now(UTC)
    cards = [{"card_uuid": f"{n:08d}-0000-4000-8000-000000000000", "service_id": "bzd-taper-order-sign",
              "card_type": ("baclofen-adjunct", "taper-too-fast")[n % 2], "indicator": "warning",
              "hook_instance": "h", "patient_hash": "p", "created_at": now - timedelta(days=n % 70),
              "client": "https://ehr.example"} for n in range(5_000)]
    outcomes = [{"dedupe_key": f"{card['card_uuid']}-{step}", "card_uuid": card["card_uuid"],
                 "outcome": outcome, "override_code": "will-act" if outcome == "overridden" else None,
                 "outcome_timestamp": now - timedelta(hours=2 - step), "received_at": now}
                for n, card in enumerate(cards)
                for step, outcome in enumerate(("overridden", "accepted" if n % 4 == 0 else "overridden"))]
    with engine.begin() as connection:
        connection.execute(insert(card_log), cards)
        connection.execute(insert(feedback), outcomes)
    rows_read: list[int] = []

    @contextmanager
    def counting(engine_: Any) -> Iterator[Any]:
        with analytics_reading(engine_) as connection:
            class Counting:
                def execute(self, statement: Any) -> list[Any]:
                    rows = list(connection.execute(statement))
                    rows_read.append(len(rows))
                    return rows
            yield Counting()

    analytics_reading = analytics.reading
    monkeypatch.setattr(analytics, "reading", counting)
    report = analytics.card_outcomes(engine, "https://ehr.example", now=now)["card_types"]
    assert sum(rows_read) <= 2 * (1 + 8 + 2), rows_read  # per card type: shown, 8 weeks, 2 outcomes
    baclofen, fast = report["baclofen-adjunct"], report["taper-too-fast"]
    assert (baclofen["shown"], baclofen["accepted"], baclofen["overridden"]) == (2_500, 1_250, 1_250)
    assert (fast["shown"], fast["accepted"], fast["overridden"]) == (2_500, 0, 2_500)
    assert fast["top_override_reasons"] == [{"reason": "will-act", "count": 2_500}]
    seven_weeks_ago = now - timedelta(weeks=7)
    first_monday = (seven_weeks_ago - timedelta(days=seven_weeks_ago.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0)
    recent = sum(1 for n in range(0, 5_000, 2) if now - timedelta(days=n % 70) >= first_monday)
    assert sum(week["shown"] for week in baclofen["weekly_shown"]) == recent
    assert analytics.card_outcomes(engine, "https://other-ehr.example", now=now)["card_types"] == {}

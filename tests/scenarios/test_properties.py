"""Invariants over many generated records, through the HTTP API."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import HookCalls, ScenarioHooks
from tests.utils.fhir import ICD10, SNOMED, condition, medication_request
from tests.utils.scenarios import NAMES, expected, request

UNRELATED = [("617314", "atorvastatin 10 MG Oral Tablet"), ("197361", "amlodipine 5 MG Oral Tablet"),
             ("861007", "metformin hydrochloride 500 MG Oral Tablet"), ("314076", "lisinopril 10 MG Oral Tablet"),
             ("312940", "sertraline 50 MG Oral Tablet")]
OPIOIDS = [("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"),
           ("864706", "methadone hydrochloride 10 MG Oral Tablet"), ("892582", "morphine sulfate 15 MG Oral Tablet"),
           ("351265", "buprenorphine 8 MG Sublingual Tablet"),
           ("857002", "acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet")]
"""The nearest miss: the opioid-benzodiazepine card must wait for a benzodiazepine or Z-drug."""
CONDITIONS = [("F13.20", "Sedative dependence", ICD10), ("724668002", "Withdrawal seizure", SNOMED),
              ("Z33.1", "Pregnant state", ICD10), ("F31.9", "Bipolar disorder", ICD10),
              ("R45.851", "Suicidal ideation", ICD10), ("66590003", "Alcohol dependence", SNOMED),
              ("F11.20", "Opioid dependence, uncomplicated", ICD10)]
# The examples of one test share its database (one app, as the calls of one installation do): function-scoped
# fixtures under hypothesis are meant so here.
SHARED_APP = [HealthCheck.function_scoped_fixture]


def _orders(draw_status: str, medications: list[tuple[str, str]]) -> Any:
    return st.builds(
        lambda med, tablets, per_day, day, ident: medication_request(
            med, tablets=tablets, per_day=per_day, authored_on=f"2026-{day:02d}-01" if draw_status != "draft"
            else "2026-03-16", status=draw_status, id=f"{draw_status}-{ident}"),
        st.sampled_from(medications), st.sampled_from([0.5, 1, 2]), st.integers(1, 4), st.integers(1, 3),
        st.integers(0, 10_000))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, *SHARED_APP])
@given(st.lists(_orders("active", UNRELATED + OPIOIDS), max_size=6, unique_by=lambda r: r["id"]),
       _orders("draft", OPIOIDS),
       st.lists(_orders("draft", UNRELATED), max_size=2, unique_by=lambda r: r["id"]),
       st.lists(st.sampled_from(CONDITIONS), max_size=4))
def test_no_card_without_a_benzodiazepine_z_drug_or_adjunct(hooks: HookCalls, history: list[dict[str, Any]],
                                                             opioid: dict[str, Any], others: list[dict[str, Any]],
                                                             problems: list[tuple[str, str, str]]) -> None:
    """Every call signs an opioid, beside any unrelated drugs, opioids on record and problems: the records every
    sedative rule comes closest to firing on."""
    drafts = [opioid, *(draft for draft in others if draft["id"] != opioid["id"])]
    body = hooks.request(drafts=drafts, history=history,
                         conditions=[condition(code, text, system=system) for code, text, system in problems])
    assert hooks.cards(body) == []


def _comparable(cards: list[dict[str, Any]]) -> list[Any]:
    """Cards without their random uuids."""
    stripped = json.loads(json.dumps(cards))
    for card in stripped:
        card.pop("uuid")
        for suggestion in card.get("suggestions", []):
            suggestion.pop("uuid")
    return stripped


@settings(max_examples=60, deadline=None, suppress_health_check=SHARED_APP)
@given(st.sampled_from(NAMES), st.randoms(use_true_random=False))
def test_order_of_history_resources_does_not_change_the_cards(scenario_hooks: ScenarioHooks, name: str,
                                                              rnd: random.Random) -> None:
    body, want = request(name), expected(name)
    local = scenario_hooks(want)
    shuffled = copy.deepcopy(body)
    for key in ("medicationRequests", "medicationDispenses", "medicationStatements", "conditions", "observations"):
        entries = shuffled["prefetch"][key].get("entry")
        if entries:
            rnd.shuffle(entries)
    service = want["service"]
    assert _comparable(local.cards(shuffled, service)) == _comparable(local.cards(body, service))

"""Run-ahead (issue #7 item 3): an order-sign that matches a recent order-select reuses its precomputed
findings; any change of the relevant inputs, or time, makes it evaluate again."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from cds_service.config import Settings
from cds_service.evaluate import evaluate_hook_call
from cds_service.runahead import RunAheadCache
from cds_service.schemas.hook_request import load_hook_request
from cds_service.services import SERVICES

FIXTURES = Path(__file__).resolve().parents[1] / "fhir_fixtures"
SETTINGS = Settings()


def select_and_sign(cache: RunAheadCache, change: Any = None) -> tuple[Any, Any]:
    select = json.loads((FIXTURES / "baclofen-adjunct-order-select-selected/request.json").read_text())
    sign = copy.deepcopy(select)
    sign["hook"] = "order-sign"
    del sign["context"]["selections"]
    if change:
        change(sign)
    selected = evaluate_hook_call(SERVICES["bzd-taper-order-select"], load_hook_request(select, "order-select"),
                                  SETTINGS, run_ahead=cache)
    signed = evaluate_hook_call(SERVICES["bzd-taper-order-sign"], load_hook_request(sign, "order-sign"), SETTINGS,
                                run_ahead=cache)
    return selected, signed


def test_matching_order_sign_reuses_the_run_ahead_with_fresh_card_uuids() -> None:
    cache = RunAheadCache()
    selected, signed = select_and_sign(cache)
    assert signed.reused and len(cache) == 1
    assert [c.card_type for c in signed.cards] == ["baclofen-adjunct"]
    assert {c.card_uuid for c in signed.cards}.isdisjoint({c.card_uuid for c in selected.cards})
    fresh = evaluate_hook_call(SERVICES["bzd-taper-order-sign"], load_hook_request(
        {**json.loads((FIXTURES / "baclofen-adjunct-during-diazepam-taper/request.json").read_text())}, "order-sign"),
        SETTINGS)
    assert [c["summary"] for c in signed.response["cards"]] == [c["summary"] for c in fresh.response["cards"]]


def test_a_changed_draft_or_record_is_evaluated_again() -> None:
    def change_dose(sign: dict[str, Any]) -> None:
        sign["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]["timing"]["repeat"][
            "frequency"] = 2

    def change_record(sign: dict[str, Any]) -> None:
        sign["prefetch"]["conditions"]["entry"].append({"resource": {
            "resourceType": "Condition", "id": "ms", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "24700007"}]}}})

    for change in (change_dose, change_record):
        _, signed = select_and_sign(RunAheadCache(), change)
        assert not signed.reused
    _, spasticity = select_and_sign(RunAheadCache(), change_record)
    assert spasticity.cards == (), "the new multiple-sclerosis diagnosis is taken into account"


def test_run_ahead_expires_and_is_bounded() -> None:
    _, late = select_and_sign(RunAheadCache(ttl_s=0.0))  # the window has passed before order-sign
    assert not late.reused
    small = RunAheadCache(max_entries=1)
    select_and_sign(small)
    select_and_sign(small, lambda s: s["context"].update(patientId="p2"))
    assert len(small) == 1

"""A finding whose card cannot be built is dropped and logged with its rule; the other cards are still answered
(docs/service-contract.md §7: a failing rule never takes other cards down — card building included)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY

from cds_service.clinical import taper_step
from cds_service.clinical.findings import Action
from tests.conftest import HookCalls, card_types
from tests.utils.fhir import (
    DIAZEPAM_2_MG_TABLET,
    baclofen_draft,
    diazepam_taper_15_to_12,
    medication_request,
)


def _halving_draft() -> dict[str, Any]:
    """Diazepam 12 → 4 mg/day in one step (the 10 mg order replaced by 2 mg a day): an abrupt cut whose card
    offers a one-click update of this draft."""
    return medication_request(DIAZEPAM_2_MG_TABLET, tablets=1, per_day=1, authored_on="2026-03-16",
                              status="draft", id="dzp-draft", prior="dzp-10")


def test_a_card_that_cannot_be_built_is_dropped_and_the_others_are_answered(
    hooks: HookCalls, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    body = hooks.request(drafts=[baclofen_draft(), _halving_draft()], history=diazepam_taper_15_to_12())
    assert card_types(hooks.cards(body)) == [("abrupt-discontinuation", "critical"), ("baclofen-adjunct", "warning")]

    def update_without_resource(*args: Any, **kwargs: Any) -> Action:
        return Action(type="update", description="Change the order")  # an update needs its resource

    monkeypatch.setattr(taper_step, "update_draft_action", update_without_resource)
    with caplog.at_level(logging.INFO):
        response = hooks.post(body)
    assert response.status_code == 200
    assert card_types(response.get_json()["cards"]) == [("baclofen-adjunct", "warning")]
    [record] = [r for r in caplog.records if r.getMessage() == "card could not be built"]
    assert (record.rule, record.error_type) == ("abrupt-discontinuation", "ValueError")  # type: ignore[attr-defined]
    hook_log = [r for r in caplog.records if r.getMessage() == "hook evaluated"][-1]
    assert hook_log.failed_rules == ["abrupt-discontinuation"]  # type: ignore[attr-defined]


def test_the_failure_is_counted_as_the_rule_failing(hooks: HookCalls, monkeypatch: pytest.MonkeyPatch) -> None:
    def failures() -> float:
        return REGISTRY.get_sample_value("cds_rule_failures_total", {"rule": "abrupt-discontinuation"}) or 0.0

    monkeypatch.setattr(taper_step, "update_draft_action",
                        lambda *a, **k: Action(type="update", description="Change the order"))
    before = failures()
    hooks.post(hooks.request(drafts=[baclofen_draft(), _halving_draft()], history=diazepam_taper_15_to_12()))
    assert failures() == before + 1

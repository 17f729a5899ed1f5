"""Failure isolation and alert discipline of the rule engine (docs/service-contract.md §5, §7)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

import pytest

from cds_service.clinical.engine import MAX_CARDS, disciplined, run_rules, select_cards, without_repeats
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Indicator, Suggestion
from cds_service.clinical.rules import RULE_BY_TYPE, Rule


def _finding(card_type: str, indicator: Indicator = "warning", order_id: str | None = "o1") -> Finding:
    return Finding(card_type=card_type, indicator=indicator, summary="s", detail="d", order_id=order_id,
                   source_url="https://example.org")


def test_a_failing_rule_is_logged_without_data_and_the_others_still_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(facts: ClinicalFacts) -> Iterator[Finding]:
        raise KeyError("Jane Doe 1961-02-03")

    def working(facts: ClinicalFacts) -> Iterator[Finding]:
        yield _finding("taper-support", "info")

    failures: list[str] = []
    with caplog.at_level(logging.ERROR):
        rules = (Rule(RULE_BY_TYPE["taper-too-fast"].declaration, broken),
                 Rule(RULE_BY_TYPE["taper-support"].declaration, working))
        record = SimpleNamespace(evaluation=SimpleNamespace(record=SimpleNamespace(incomplete=())))
        result = run_rules(record, rules,  # type: ignore[arg-type]
                           on_rule_failure=failures.append)
    assert [f.card_type for f in result.findings] == ["taper-support"]
    assert result.failed_rules == ["taper-too-fast"] and failures == ["taper-too-fast"]
    assert "Jane Doe" not in caplog.text and "1961" not in caplog.text


def test_one_card_per_order_and_type_most_severe_first_at_most_five() -> None:
    findings = [
        _finding("taper-support", "info"),
        _finding("taper-too-fast", "warning"),
        _finding("taper-too-fast", "warning"),
        _finding("abrupt-discontinuation", "critical"),
        _finding("long-term-rate", "warning", "o2"),
        _finding("conversion-ambiguity", "warning"),
        _finding("specialist-referral", "warning"),
        _finding("pregnancy-specialist", "warning"),
    ]
    kept = disciplined(findings)
    assert len(kept) == MAX_CARDS == 5
    assert kept[0].card_type == "abrupt-discontinuation"
    assert [f.card_type for f in kept].count("taper-too-fast") == 1
    assert "taper-support" not in [f.card_type for f in kept], "info cards give way first"


def test_distinct_concerns_come_before_a_second_rate_card_about_the_same_order() -> None:
    """More than five qualify: another order's card, other rule families and the older-adult warning (a concern
    about the patient, not a second card about the step) stay; the second and third rate cards about order o1 give
    way, and the order of the answer is still by severity."""
    findings = [
        _finding("abrupt-discontinuation", "critical"),
        _finding("taper-too-fast"),
        _finding("long-term-rate"),
        _finding("older-adult"),
        _finding("specialist-referral"),
        _finding("baclofen-adjunct", order_id="o2"),
        _finding("gabapentinoid-renal-dose", order_id="o3"),
    ]
    kept = [(f.card_type, f.order_id) for f in disciplined(findings)]
    assert kept == [("abrupt-discontinuation", "o1"), ("older-adult", "o1"), ("specialist-referral", "o1"),
                    ("baclofen-adjunct", "o2"), ("gabapentinoid-renal-dose", "o3")]


def test_rate_cards_fill_the_budget_when_nothing_else_qualifies() -> None:
    findings = [_finding("abrupt-discontinuation", "critical"), _finding("taper-too-fast"), _finding("long-term-rate"),
                _finding("older-adult"), _finding("conversion-ambiguity"), _finding("taper-too-fast", order_id="o2")]
    kept = [(f.card_type, f.order_id) for f in disciplined(findings)]
    assert kept == [("abrupt-discontinuation", "o1"), ("taper-too-fast", "o1"), ("long-term-rate", "o1"),
                    ("older-adult", "o1"), ("taper-too-fast", "o2")]


def _step_finding(card_type: str, indicator: Indicator, lines: list[str], suggestion: Suggestion,
                  carries: bool = False) -> Finding:
    return Finding(card_type=card_type, indicator=indicator, summary="s", order_id="o1", source_url="https://x.org",
                   detail="\n".join(["**Order:** lorazepam", "", "**Why this card:**", *lines]),
                   suggestions=(suggestion,), carries_shared_suggestions=carries)


def test_one_card_set_states_a_shared_fact_once_and_carries_a_suggestion_once() -> None:
    """docs/clinical-reference.md §6e: a fact shared by several cards is stated in full on the highest-ranked
    card and referred to on the others; no two cards carry the same suggestion — the older-adult warning keeps
    its own slower step, and the cards it was taken from say where it is."""
    keep = Suggestion("Keep the current dose for now", (Action(type="delete", description="Withdraw",
                                                                resource_id="MedicationRequest/d1"),))
    shared = ["- Lorazepam: 1 mg/day → 0.5 mg/day.", "- Total benzodiazepine dose: 10 mg → 5 mg "
              "diazepam-equivalent/day (50 % reduction; Ashton table).", "- Age 80."]
    abrupt = _step_finding("abrupt-discontinuation", "critical", [*shared, "- Likely physically dependent."], keep)
    long_term = _step_finding("long-term-rate", "warning", [*shared, "- Covered on 365 of the last 365 days."], keep)
    older = _step_finding("older-adult", "warning", shared, keep, carries=True)
    answered = without_repeats([abrupt, long_term, older])
    assert [f.suggestions for f in answered] == [(), (), (keep,)]
    assert answered[0].detail == abrupt.detail + "\n\n**One-click options:** on the “Older adult taper” card."
    assert answered[1].detail.split("\n")[3:] == [
        "- Doses, diazepam-equivalents, step and history: as stated on the “Abrupt benzodiazepine discontinuation” "
        "card.", "- Covered on 365 of the last 365 days.", "",
        "**One-click options:** on the “Older adult taper” card."]
    assert answered[2].detail.split("\n")[3:] == [
        "- Doses, diazepam-equivalents, step and history: as stated on the “Abrupt benzodiazepine discontinuation” "
        "card."]
    # without a card that carries shared suggestions, the highest-ranked card keeps them
    assert [f.suggestions for f in without_repeats([abrupt, long_term])] == [(keep,), ()]
    # facts about another order are not referred to another order's card
    other = replace(long_term, order_id="o2")
    assert without_repeats([abrupt, other])[1].detail.split("\n")[3:6] == shared


def test_a_routine_step_support_card_is_shown_only_when_it_is_the_only_card() -> None:
    """docs/clinical-reference.md §11q: a later routine step answers taper-support so the prescriber sees the step
    was checked; beside any other card (here another order's warning) it is left out."""
    routine = replace(_finding("taper-support", "info"), only_card=True)
    assert select_cards([routine]) == [routine]
    other = _finding("z-drug-during-taper", "warning", "o2")
    assert select_cards([routine, other]) == [other]

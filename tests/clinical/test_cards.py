"""The card builder enforces the CDS Hooks card invariants for every rule (CDS Hooks 2.0)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cds_service.clinical.cards import CARD_TYPES, KnowledgeVersion, build_card
from cds_service.clinical.findings import Action, Finding, Link, Suggestion
from cds_service.clinical.wording import mg, percent
from tests.utils.cards import assert_valid_card


def _finding(**overrides: object) -> Finding:
    values: dict[str, object] = {
        "card_type": "taper-too-fast", "indicator": "warning", "summary": "Slow this step", "detail": "Why.",
        "order_id": "o1", "source_url": "https://example.org/guideline",
    }
    values.update(overrides)
    return Finding(**values)  # type: ignore[arg-type]


def test_long_summary_is_cut_below_140_characters() -> None:
    card = build_card(_finding(summary="x" * 300))
    assert len(card["summary"]) == 139 and card["summary"].endswith("…")


def test_warning_card_carries_override_reasons_with_display() -> None:
    card = build_card(_finding())
    assert {r["code"] for r in card["overrideReasons"]} >= {"patient-specific-plan", "will-act"}
    assert_valid_card(card)


def test_info_card_has_no_override_reasons_and_no_empty_members() -> None:
    card = build_card(_finding(indicator="info", card_type="taper-support", detail="  "))
    assert "overrideReasons" not in card and "detail" not in card and "suggestions" not in card
    assert_valid_card(card)


def test_suggestions_bring_selection_behavior_and_uuids() -> None:
    delete = Action(type="delete", description="Remove", resource_id="MedicationRequest/o1")
    card = build_card(_finding(detail="**Order:** o1",
                               suggestions=(Suggestion("Remove", (delete,)), Suggestion("Nothing", ())),
                               links=(Link("Plan", "https://example.org/plan"),)))
    assert card["selectionBehavior"] == "at-most-one"
    assert [s["label"] for s in card["suggestions"]] == ["Remove"], "a suggestion without actions is dropped"
    assert card["links"] == [{"label": "Plan", "url": "https://example.org/plan", "type": "absolute"}]
    assert_valid_card(card, {"o1"})


def test_data_notes_are_added_to_the_detail() -> None:
    card = build_card(_finding(), ("conditions: more pages than the service reads",))
    assert card["detail"].endswith("**Data not fully read:** conditions: more pages than the service reads.")


@pytest.mark.parametrize("action", [
    Action(type="delete", description="Remove"),
    Action(type="create", description="Order"),
])
def test_actions_missing_their_target_are_refused(action: Action) -> None:
    with pytest.raises(ValueError):
        build_card(_finding(suggestions=(Suggestion("Fix", (action,)),)))


def test_unknown_card_type_is_refused() -> None:
    with pytest.raises(ValueError):
        build_card(_finding(card_type="something-else"))


def test_card_names_the_rules_that_produced_it_after_any_data_note() -> None:
    knowledge = KnowledgeVersion("1.2.3", "joint-2025", "va-dod")
    card = build_card(_finding(), ("observations: not supplied",), knowledge=knowledge)
    assert card["extension"] == {"bzd-taper-cds.knowledge": {"version": "1.2.3", "profile": "joint-2025",
                                                             "equivalenceTable": "va-dod"}}
    assert card["detail"] == ("Why.\n\n**Data not fully read:** observations: not supplied.\n\n"
                              "_Rules: bzd-taper-cds 1.2.3; taper thresholds of the 2025 Joint Guideline (Brunner E, "
                              "et al. J Gen Intern Med 2025, https://doi.org/10.1007/s11606-025-09499-2); VA/DoD "
                              "equivalence table._")
    assert card["source"]["topic"]["code"] == "taper-too-fast", "the card type stays in source.topic"
    assert_valid_card(card)


NUMBERS = (2, 10, 20, 100, 150, 700, 1400, 2000, Fraction(1, 4), Fraction(1, 8), Fraction(25, 2))


@pytest.mark.parametrize("card_type", sorted(CARD_TYPES))
def test_every_card_type_prints_numbers_exactly(card_type: str) -> None:
    """Every card type carries its numbers through the one formatter and the card builder unchanged."""
    values = " ".join(mg(Fraction(value)) for value in NUMBERS)
    finding = Finding(card_type=card_type, indicator="warning", summary=f"Limit {mg(Fraction(1400))}/day",
                      detail=f"- Doses: {values}; reduction {percent(Fraction(25, 2))}.", order_id="d1",
                      source_url="https://example.org")
    card = build_card(finding)
    assert card["summary"] == "Limit 1400 mg/day"
    assert card["detail"] == ("- Doses: 2 mg 10 mg 20 mg 100 mg 150 mg 700 mg 1400 mg 2000 mg 0.25 mg 0.125 mg "
                              "12.5 mg; reduction 12.5 %.")

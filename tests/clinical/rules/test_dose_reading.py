"""Doses read from messy records (docs/clinical-reference.md §7a, §7b, §7f): through the HTTP API, with the
numbers and text a prescriber reads asserted exactly, each with a near miss."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.conftest import HookCalls, card_types
from tests.utils.fhir import RXNORM

DIAZEPAM_5 = ("197591", "diazepam 5 MG Oral Tablet")
ALPRAZOLAM_0_5 = ("308048", "alprazolam 0.5 MG Oral Tablet")
GABAPENTIN_300 = ("310431", "gabapentin 300 MG Oral Capsule")


def order(medication: tuple[str, str], dosage: list[dict[str, Any]], *, on: str, id: str, status: str = "active",
          **extra: Any) -> dict[str, Any]:
    code, display = medication
    return {"resourceType": "MedicationRequest", "id": id, "status": status, "intent": "order",
            "subject": {"reference": "Patient/p1"}, "authoredOn": on,
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
            "dosageInstruction": dosage, **extra}


def tablets(count: float, frequency: int = 1, period: float = 1, unit: str = "d", **repeat: Any) -> dict[str, Any]:
    return {"timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": unit, **repeat}},
            "doseAndRate": [{"doseQuantity": {"value": count, "unit": "tablet"}}]}


def fill(medication: tuple[str, str], quantity: int, days: int, on: str, id: str) -> dict[str, Any]:
    code, display = medication
    return {"resourceType": "MedicationDispense", "id": id, "status": "completed",
            "subject": {"reference": "Patient/p1"}, "whenHandedOver": on,
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
            "quantity": {"value": quantity, "unit": "tablet"}, "daysSupply": {"value": days, "unit": "d"}}


def by_type(cards: list[dict[str, Any]], card_type: str) -> dict[str, Any]:
    [found] = [c for c in cards if c["source"]["topic"]["code"] == card_type]
    return found


DIAZEPAM_20_SINCE_AUGUST = [order(DIAZEPAM_5, [tablets(2, 2)], on="2025-09-01", id="o1")]
"""Diazepam 10 mg twice daily (20 mg/day) for 196 days on 2026-03-16: likely dependent, not long-term."""


def draft_with(dosage: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return order(DIAZEPAM_5, dosage, on="2026-03-16", id="d1", status="draft",
                 priorPrescription={"reference": "MedicationRequest/o1"}, **extra)


def test_an_unreadable_draft_for_a_dependent_patient_gets_a_dose_unreadable_warning(hooks: HookCalls) -> None:
    cards = hooks.cards(hooks.request(history=DIAZEPAM_20_SINCE_AUGUST,
                                      drafts=[draft_with([{"text": "use as directed"}])]))
    assert card_types(cards) == [("dose-unreadable", "warning")]
    card = cards[0]
    assert card["summary"] == "Diazepam dose could not be read: this taper step was not checked"
    assert card["detail"].startswith(
        "**Order:** diazepam 5 MG Oral Tablet — the new daily dose could not be read, so "
        "this step was not checked against the taper limits.\n\n**What is missing:**\n- this order: no dose "
        "quantity.\n\n**Why this card:**\n- Current total: 20 mg diazepam-equivalent/day (Ashton table).\n"
        "- Likely physically dependent (2025 Joint Guideline Table 2): 196 days of use.")
    assert [r["code"] for r in card["overrideReasons"]] == [
        "will-act", "patient-specific-plan", "specialist-managing", "not-applicable"]


def test_near_miss_the_dispense_request_gives_the_daily_dose(hooks: HookCalls) -> None:
    """42 tablets of 5 mg for 14 days = 15 mg/day: 20 → 15 mg is a 25 % step, within the 25 % limit."""
    draft = draft_with([{"text": "use as directed"}], dispenseRequest={
        "quantity": {"value": 42, "unit": "tablet"}, "expectedSupplyDuration": {"value": 14, "unit": "days"}})
    cards = hooks.cards(hooks.request(history=DIAZEPAM_20_SINCE_AUGUST, drafts=[draft]))
    assert card_types(cards) == [("taper-support", "info")]
    assert "(20 mg → 15 mg diazepam-equivalent/day)" in cards[0]["detail"]


def test_a_patient_not_likely_dependent_gets_no_dose_unreadable_card(hooks: HookCalls) -> None:
    """Three weeks of diazepam 5 mg/day: not likely dependent (< 1 month), so nothing to check."""
    history = [order(DIAZEPAM_5, [tablets(1)], on="2026-02-23", id="o1")]
    cards = hooks.cards(hooks.request(history=history, drafts=[draft_with([{"text": "use as directed"}])]))
    assert "dose-unreadable" not in {c["source"]["topic"]["code"] for c in cards}


def test_a_dose_in_the_sig_text_is_judged(hooks: HookCalls) -> None:
    """"5 mg twice daily" = 10 mg/day: 20 → 10 is a 50 % cut of a dependent patient's dose → critical."""
    cards = hooks.cards(hooks.request(history=DIAZEPAM_20_SINCE_AUGUST,
                                      drafts=[draft_with([{"text": "5 mg twice daily"}])]))
    abrupt = by_type(cards, "abrupt-discontinuation")
    assert abrupt["indicator"] == "critical"
    assert "20 mg → 10 mg diazepam-equivalent/day (50 % reduction; Ashton table)" in abrupt["detail"]


def test_near_miss_a_sig_text_step_within_the_limit(hooks: HookCalls) -> None:
    """"7.5 mg twice daily" = 15 mg/day: a 25 % step, the largest the summary profile allows."""
    cards = hooks.cards(hooks.request(history=DIAZEPAM_20_SINCE_AUGUST,
                                      drafts=[draft_with([{"text": "7.5 mg twice daily"}])]))
    assert card_types(cards) == [("taper-support", "info")]


def test_every_eight_hours_is_three_doses_a_day_for_the_renal_label(hooks: HookCalls) -> None:
    """Gabapentin 300 mg "1 per 8 h" with CrCl 20 mL/min: 900 mg/day in 3 doses; the label row allows 700 once
    daily — the same card that "3/day" gets."""
    observations = [
        {"resourceType": "Observation", "id": "egfr", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
         "subject": {"reference": "Patient/p1"},
         "effectiveDateTime": "2026-03-01", "valueQuantity": {"value": 20, "unit": "mL/min/{1.73_m2}"}}]
    for per in (tablets(1, 1, 8, "h"), tablets(1, 3, 1, "d"), {"text": "1 capsule q8h", "doseAndRate": []}):
        draft = order(GABAPENTIN_300, [per], on="2026-03-16", id="g1", status="draft")
        cards = hooks.cards(hooks.request(history=DIAZEPAM_20_SINCE_AUGUST, drafts=[draft],
                                          observations=observations))
        renal = by_type(cards, "gabapentinoid-renal-dose")
        assert "900 mg/day is above the label maximum of 700 mg/day; 3 doses a day; the label gives it once " \
               "daily" in renal["detail"], per


# §7a: several orders of one drug


def with_requester(resource: dict[str, Any], who: str) -> dict[str, Any]:
    return {**resource, "requester": {"reference": f"Practitioner/{who}"}}


SCHEDULED_AND_PRN = [
    with_requester(order(DIAZEPAM_5, [tablets(1, 2)], on="2025-06-01", id="sched"), "psychiatrist"),
    with_requester(order(DIAZEPAM_5, [{**tablets(1, 1), "asNeededBoolean": True}], on="2025-09-01", id="prn"),
                   "gp"),
]
"""Diazepam 5 mg twice daily from the psychiatrist, and 5 mg once a day as needed from the GP: 15 mg/day."""


def test_a_scheduled_and_an_as_needed_order_from_two_prescribers_both_count(hooks: HookCalls) -> None:
    """The psychiatrist's new order (5 mg daily) replaces the psychiatrist's own order only: 15 → 10 mg/day
    (33.3 %), too fast under the summary profile's 25 % step."""
    draft = with_requester(order(DIAZEPAM_5, [tablets(1, 1)], on="2026-03-16", id="d1", status="draft"),
                           "psychiatrist")
    cards = hooks.cards(hooks.request(history=SCHEDULED_AND_PRN, drafts=[draft]))
    assert card_types(cards) == [("taper-too-fast", "warning")]
    assert "15 mg → 10 mg diazepam-equivalent/day (33.3 % reduction; Ashton table)" in cards[0]["detail"]


def test_near_miss_the_same_prescriber_replaces_the_earlier_order(hooks: HookCalls) -> None:
    """When the GP wrote both orders, the as-needed order ended the scheduled one: the total is 5 mg/day."""
    history = [with_requester(o, "gp") for o in SCHEDULED_AND_PRN]
    draft = with_requester(order(DIAZEPAM_5, [tablets(1, 1)], on="2026-03-16", id="d1", status="draft"), "gp")
    cards = hooks.cards(hooks.request(history=history, drafts=[draft]))
    assert "abrupt-discontinuation" not in {c["source"]["topic"]["code"] for c in cards}
    assert "taper-too-fast" not in {c["source"]["topic"]["code"] for c in cards}


# §7f: as-needed use and dependence from dispensing

PRN_ALPRAZOLAM = [order(ALPRAZOLAM_0_5, [{**tablets(1, 1), "asNeededBoolean": True}], on="2025-01-10", id="o1")]
"""Alprazolam 0.5 mg once a day as needed for 14 months (10 mg DE Ashton)."""


def stop_alprazolam() -> dict[str, Any]:
    return order(ALPRAZOLAM_0_5, [tablets(1, 1)], on="2026-03-16", id="d1", status="stopped",
                 priorPrescription={"reference": "MedicationRequest/o1"})


def test_as_needed_use_on_two_days_a_week_is_not_dependence(hooks: HookCalls) -> None:
    """Fills of 8, 8 and 8 tablets on 2026-01-05, -02-02, -03-02 (70 days): 24 days of use ÷ 10 weeks = 2.4 a
    week → not likely dependent → stopping needs no taper: only the info card, naming rebound symptoms."""
    fills = [fill(ALPRAZOLAM_0_5, 8, 28, day, f"f{n}") for n, day in
             enumerate(("2026-01-05", "2026-02-02", "2026-03-02"))]
    cards = hooks.cards(hooks.request(history=PRN_ALPRAZOLAM, dispenses=fills, drafts=[stop_alprazolam()]))
    assert card_types(cards) == [("taper-support", "info")]
    assert "- Not likely physically dependent (2025 Joint Guideline Table 2: as-needed use on about 2.4 days a " \
           "week): this change needs no taper; rebound insomnia or anxiety may occur for a few days." \
           in cards[0]["detail"]


def test_near_miss_as_needed_use_on_four_days_a_week_is_dependence(hooks: HookCalls) -> None:
    """Fills of 16 tablets each (40 days of use in 10 weeks = 4 a week): likely dependent → the stop is abrupt."""
    fills = [fill(ALPRAZOLAM_0_5, 16, 28, day, f"f{n}") for n, day in
             enumerate(("2026-01-05", "2026-02-02", "2026-03-02"))]
    cards = hooks.cards(hooks.request(history=PRN_ALPRAZOLAM, dispenses=fills, drafts=[stop_alprazolam()]))
    assert ("abrupt-discontinuation", "critical") in card_types(cards)


# The rules called directly, on facts built from a record (no HTTP).


def facts_of(history: list[dict[str, Any]], drafts: list[dict[str, Any]], table: str = "ashton") -> Any:
    from datetime import UTC, datetime

    from cds_service.clinical.facts import ClinicalFacts
    from cds_service.clinical.record import Evaluation, EvaluationSettings
    from cds_service.clinical.terminology import load_terminology
    from cds_service.fhir.parse import build_patient_record

    terminology = load_terminology()
    record = build_patient_record({"medicationRequests": history}, drafts, terminology)
    settings = EvaluationSettings(equivalence_table=table)  # type: ignore[arg-type]
    return ClinicalFacts(Evaluation("p1", record, datetime(2026, 3, 16, tzinfo=UTC), None, settings), terminology)


def test_dose_unreadable_rule_directly() -> None:
    from cds_service.clinical.rules import dose_unreadable

    facts = facts_of(DIAZEPAM_20_SINCE_AUGUST, [draft_with([{"text": "take as the clinic says"}])])
    [finding] = dose_unreadable.evaluate(facts)
    assert (finding.card_type, finding.indicator, finding.order_id) == ("dose-unreadable", "warning", "d1")
    assert "- this order: no dose quantity." in finding.detail
    readable = facts_of(DIAZEPAM_20_SINCE_AUGUST, [draft_with([tablets(3, 1)])])
    assert list(dose_unreadable.evaluate(readable)) == []


def test_conversion_ambiguity_rule_directly_is_the_same_under_either_table() -> None:
    from cds_service.clinical.rules import abrupt_discontinuation, conversion_ambiguity

    alprazolam = [order(("197321", "alprazolam 1 MG Oral Tablet"), [tablets(1, 3)], on="2023-03-01", id="o1")]
    drafts = [order(("197321", "alprazolam 1 MG Oral Tablet"), [tablets(1, 3)], on="2026-03-16", id="d1",
                    status="stopped", priorPrescription={"reference": "MedicationRequest/o1"}),
              order(("197589", "diazepam 10 MG Oral Tablet"), [tablets(1, 3)], on="2026-03-16", id="d2",
                    status="draft")]
    for table in ("ashton", "va-dod"):
        facts = facts_of(alprazolam, drafts, table)
        [finding] = conversion_ambiguity.evaluate(facts)
        assert finding.summary == \
            "Same-day switch alprazolam → diazepam: equivalence tables disagree; cross-taper over 1–2 weeks"
        assert list(abrupt_discontinuation.evaluate(facts)) == [], "the ambiguity card is the one card"


def test_judged_by_phase_names_the_first_phase_that_breaks_a_limit() -> None:
    from cds_service.clinical.rules import taper_too_fast

    def phase(seq: int, mg: int, days: int | None = None) -> dict[str, Any]:
        repeat: dict[str, Any] = {"frequency": 1, "period": 1, "periodUnit": "d"}
        if days:
            repeat["boundsDuration"] = {"value": days, "code": "d"}
        return {"sequence": seq, "timing": {"repeat": repeat}, "doseAndRate": [{"doseQuantity": {"value": mg,
                                                                                              "unit": "mg"}}]}

    facts = facts_of(DIAZEPAM_20_SINCE_AUGUST, [draft_with([phase(1, 15, 14), phase(2, 11)])])
    assert [(p.phase_start, p.history.current_de, p.history.proposed_de) for p in facts.phases] == [
        (None, 20, 15), (date(2026, 3, 30), 15, 11)]
    [finding] = taper_too_fast.evaluate(facts)
    assert "**Phase:** the phase starting 2026-03-30 (14 days after this order starts)" in finding.detail
    assert "step of 26.7 % exceeds 25 % of the current dose" in finding.detail
    assert finding.suggestions == ()

"""Benzodiazepine history (docs/clinical-reference.md §6b, §8): timeline, steps, intervals, windows, long-term use,
dependence, prior failed taper, final step — asserted exactly on small records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.history import BenzodiazepineHistory
from cds_service.clinical.record import Evaluation
from cds_service.clinical.taper_step import is_final_step
from cds_service.clinical.terminology import load_terminology
from cds_service.fhir.parse import build_patient_record
from tests.utils.fhir import (
    DIAZEPAM_2_MG_TABLET,
    DIAZEPAM_5_MG_TABLET,
    DIAZEPAM_10_MG_TABLET,
    medication_request,
)

AT = datetime(2026, 3, 16, tzinfo=UTC)
LORAZEPAM_1_MG = ("197901", "lorazepam 1 MG Oral Tablet")


def facts(history: list[dict[str, Any]], drafts: tuple[dict[str, Any], ...] = (), **raw: list[dict[str, Any]]
          ) -> ClinicalFacts:
    terminology = load_terminology()
    record = build_patient_record({"medicationRequests": history, **raw}, drafts, terminology)
    return ClinicalFacts(Evaluation("p1", record, AT, None), terminology)


def history_of(history: list[dict[str, Any]], drafts: tuple[dict[str, Any], ...] = ()) -> BenzodiazepineHistory:
    return facts(history, drafts).history


def dzp(medication: tuple[str, str], tablets: float, per_day: int, on: str, id: str, **kw: Any) -> dict[str, Any]:
    return medication_request(medication, tablets=tablets, per_day=per_day, authored_on=on, id=id, **kw)


TAPER = [
    dzp(DIAZEPAM_10_MG_TABLET, 2, 1, "2024-01-01", "o1", status="stopped"),
    dzp(DIAZEPAM_5_MG_TABLET, 1, 3, "2026-01-05", "o2", status="stopped", prior="o1"),
    dzp(DIAZEPAM_2_MG_TABLET, 6, 1, "2026-03-02", "o3", prior="o2"),
]


def test_timeline_steps_and_current_total() -> None:
    history = history_of(TAPER)
    assert history.timeline == ((date(2024, 1, 1), 20), (date(2026, 1, 5), 15), (date(2026, 3, 2), 12))
    assert [(s.day, s.previous_de, s.new_de, s.percent_reduction) for s in history.steps] == [
        (date(2026, 1, 5), 20, 15, 25), (date(2026, 3, 2), 15, 12, 20)]
    assert history.current_de == 12 and history.proposed_de == 12 and history.proposed_step is None
    assert history.episode_start == date(2024, 1, 1) and history.episode_days == 805
    assert history.interval_days == 14
    assert history.in_taper_context and history.taper_start == date(2026, 1, 5)


def test_proposed_step_and_windows() -> None:
    draft = dzp(DIAZEPAM_10_MG_TABLET, 1, 1, "2026-03-16", "d1", status="draft", prior="o3")
    history = history_of(TAPER, (draft,))
    step = history.proposed_step
    assert step is not None and (step.previous_de, step.new_de) == (12, 10)
    assert step.percent_reduction == Fraction(50, 3)
    assert history.window_reduction_percent(14) == Fraction(50, 3)  # 12 at the window start (2026-03-02)
    assert history.window_reduction_percent(30) == Fraction(100, 3)  # 15 → 10 within 30 days


def test_long_term_and_dependence() -> None:
    history = history_of(TAPER)
    assert history.covered_days_last_year == 365 and history.is_long_term and history.likely_dependent
    short = history_of([dzp(DIAZEPAM_5_MG_TABLET, 1, 1, "2026-02-20", "s1")])
    assert short.episode_days == 24 and not short.likely_dependent and not short.is_long_term
    month_high = history_of([dzp(DIAZEPAM_10_MG_TABLET, 1, 2, "2026-02-10", "m1")])
    assert month_high.episode_days == 34 and month_high.likely_dependent  # ≥ 1 month above 10 mg DE


def test_gap_over_30_days_starts_a_new_episode() -> None:
    earlier = {**dzp(DIAZEPAM_5_MG_TABLET, 1, 2, "2025-01-01", "e1", status="completed"),
               "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "code": "d"}}}
    history = history_of([earlier, dzp(DIAZEPAM_5_MG_TABLET, 1, 1, "2026-02-01", "e2")])
    assert history.episode_start == date(2026, 2, 1) and history.steps == ()
    assert [s.new_de for s in history.all_steps] == [0]


def test_the_current_episode_has_its_own_steps_and_the_record_keeps_all() -> None:
    """Episode 1: 10 → 5 mg, stopped; 60 days later episode 2: 15 → 10 mg. The step rules see episode 2's change
    only; the prior-taper check sees every change."""
    supply = {"dispenseRequest": {"expectedSupplyDuration": {"value": 30, "code": "d"}}}
    history = history_of([
        dzp(DIAZEPAM_10_MG_TABLET, 1, 1, "2025-06-01", "a1", status="stopped"),
        {**dzp(DIAZEPAM_5_MG_TABLET, 1, 1, "2025-07-01", "a2", status="completed", prior="a1"), **supply},
        dzp(DIAZEPAM_5_MG_TABLET, 1, 3, "2025-09-30", "b1", status="stopped"),
        dzp(DIAZEPAM_10_MG_TABLET, 1, 1, "2026-01-15", "b2", prior="b1"),
    ])
    assert history.episode_start == date(2025, 9, 30)
    assert [(s.day, s.previous_de, s.new_de) for s in history.steps] == [(date(2026, 1, 15), 15, 10)]
    assert [(s.day, s.previous_de, s.new_de) for s in history.all_steps] == [
        (date(2025, 7, 1), 10, 5), (date(2025, 7, 31), 5, 0), (date(2026, 1, 15), 15, 10)]


def test_prior_failed_taper_is_found() -> None:
    history = history_of([
        dzp(DIAZEPAM_10_MG_TABLET, 2, 1, "2023-01-01", "f1", status="stopped"),
        dzp(DIAZEPAM_5_MG_TABLET, 1, 3, "2024-04-01", "f2", status="stopped", prior="f1"),
        dzp(DIAZEPAM_10_MG_TABLET, 2, 1, "2024-05-20", "f3", prior="f2"),
    ])
    failed = history.prior_failed_taper
    assert failed is not None and (failed.day, failed.previous_de, failed.new_de) == (date(2024, 4, 1), 20, 15)


def test_final_step_after_two_reductions_from_2_mg() -> None:
    subject = facts([
        dzp(DIAZEPAM_5_MG_TABLET, 1, 1, "2025-10-01", "z1", status="stopped"),
        dzp(DIAZEPAM_2_MG_TABLET, 1.5, 1, "2026-01-05", "z2", status="stopped", prior="z1"),
        dzp(DIAZEPAM_2_MG_TABLET, 1, 1, "2026-02-15", "z3", prior="z2"),
    ])
    assert subject.history.current_de == 2 and is_final_step(subject)


def test_lorazepam_under_both_tables() -> None:
    record = [dzp(LORAZEPAM_1_MG, 1, 3, "2024-01-01", "l1")]
    subject = facts(record)
    assert subject.history_under("ashton").current_de == 30
    assert subject.history_under("va-dod").current_de == 15


def test_a_later_order_of_the_same_drug_replaces_the_earlier_one() -> None:
    history = history_of([dzp(DIAZEPAM_5_MG_TABLET, 1, 3, "2025-06-01", "a1"),
                          dzp(DIAZEPAM_5_MG_TABLET, 1, 2, "2026-02-01", "a2")])
    assert history.current_de == 10 and [s.new_de for s in history.steps] == [10]


def test_fills_count_only_where_no_order_covers_the_day() -> None:
    fill = {"resourceType": "MedicationDispense", "id": "md1", "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "197591", "display": "diazepam 5 MG Oral Tablet"}]},
            "quantity": {"value": 60}, "daysSupply": {"value": 30, "code": "d"}, "whenHandedOver": "2026-03-01"}
    with_order = facts([dzp(DIAZEPAM_5_MG_TABLET, 1, 3, "2025-06-01", "a1")], medicationDispenses=[fill]).history
    assert with_order.current_de == 15
    fills_only = facts([], medicationDispenses=[fill]).history
    assert fills_only.current_de == 10


def test_each_call_builds_its_history_once_per_table(monkeypatch: Any) -> None:
    """Every rule reads the history and the step; they are built once per equivalence table and call."""
    from cds_service.clinical import facts as facts_module
    from cds_service.clinical.engine import run_rules

    built: list[object] = []
    real = facts_module.benzodiazepine_history

    def counting(*args: Any) -> BenzodiazepineHistory:
        built.append(args)
        return real(*args)

    monkeypatch.setattr(facts_module, "benzodiazepine_history", counting)
    draft = dzp(DIAZEPAM_5_MG_TABLET, 1, 2, "2026-03-16", "d1", status="draft", prior="o3")
    result = run_rules(facts(TAPER, (draft,)))
    assert "long-term-rate" in {f.card_type for f in result.findings}  # 12 → 10 mg (16.7 %) after 2 years
    assert len(built) == 1, "one drug: its own dose ratio is the same under both tables, one history suffices"
    built.clear()
    switch = dzp(LORAZEPAM_1_MG, 1, 1, "2026-03-16", "d2", status="draft")
    stop = {**dzp(DIAZEPAM_2_MG_TABLET, 6, 1, "2026-03-16", "d3", status="stopped", prior="o3")}
    run_rules(facts(TAPER, (stop, switch)))
    assert len(built) == 2, "a switch is judged under both tables, each history built once"


def test_orders_from_two_prescribers_both_count_until_one_names_the_other() -> None:
    """Diazepam 5 mg twice daily (Dr A, 2025-06-01) and 5 mg daily (Dr B, 2026-01-05): 15 mg/day from January.
    Dr A's 2 mg daily (2026-03-02) ends Dr A's own order only: 5 + 2 = 7 mg/day."""
    def by(resource: dict[str, Any], who: str) -> dict[str, Any]:
        return {**resource, "requester": {"reference": f"Practitioner/{who}"}}

    orders = [by(dzp(DIAZEPAM_5_MG_TABLET, 1, 2, "2025-06-01", "a1"), "a"),
              by(dzp(DIAZEPAM_5_MG_TABLET, 1, 1, "2026-01-05", "b1"), "b"),
              by(dzp(DIAZEPAM_2_MG_TABLET, 1, 1, "2026-03-02", "a2"), "a")]
    history = history_of(orders)
    assert history.timeline == ((date(2025, 6, 1), 10), (date(2026, 1, 5), 15), (date(2026, 3, 2), 7))
    unattributed = history_of([{k: v for k, v in o.items() if k != "requester"} for o in orders])
    assert unattributed.timeline == ((date(2025, 6, 1), 10), (date(2026, 1, 5), 5), (date(2026, 3, 2), 2))


def test_a_later_order_after_the_supply_ran_out_ends_the_earlier_one() -> None:
    """Dr A's 60 tablets for 30 days from 2025-12-01 ran out on 2025-12-31; Dr B's order of 2026-01-05 ends it."""
    first = {**dzp(DIAZEPAM_5_MG_TABLET, 1, 2, "2025-12-01", "a1"), "requester": {"reference": "Practitioner/a"},
             "dispenseRequest": {"quantity": {"value": 60}, "expectedSupplyDuration": {"value": 30, "unit": "days"}}}
    second = {**dzp(DIAZEPAM_5_MG_TABLET, 1, 1, "2026-01-05", "b1"), "requester": {"reference": "Practitioner/b"}}
    assert history_of([first, second]).timeline == ((date(2025, 12, 1), 10), (date(2026, 1, 5), 5))


def test_an_unreadable_dose_still_starts_the_episode_and_is_named_with_its_reason() -> None:
    unreadable = dzp(DIAZEPAM_5_MG_TABLET, 1, 2, "2025-06-01", "o1")
    unreadable["dosageInstruction"] = [{"text": "as directed"}]
    history = history_of([unreadable])
    assert history.current_de is None and history.episode_start == date(2025, 6, 1) and history.likely_dependent
    assert history.unknown_doses == ("diazepam 5 MG Oral Tablet (current order): no dose quantity",)

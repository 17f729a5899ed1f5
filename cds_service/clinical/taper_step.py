"""The proposed taper step of a call, judged once for every rate rule, and its compliant replacement.

docs/clinical-reference.md §6b "Step reduction %", "Step interval", "Trailing-window reduction", §8b (windows),
§8c (the total diazepam-equivalent across all benzodiazepines), §7a (a stop is a step to 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from fractions import Fraction
from typing import Any
from urllib.parse import urlencode

from cds_service.clinical.dose_forms import load_dose_forms
from cds_service.clinical.dosing import DailyDose, percent_reduction
from cds_service.clinical.equivalence import TABLES, diazepam_equivalent, drug_mg, other_table
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import MAX_LABEL, Action, Finding, Link, Suggestion
from cds_service.clinical.history import (
    BenzodiazepineHistory,
    DoseStep,
    DrugDose,
    counts_toward_taper,
    course_de,
    ends_earlier_order,
)
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.model import EquivalenceTable, Product
from cds_service.clinical.order_update import dispense_request, new_order_supply, updated_order
from cds_service.clinical.profiles import OLDER_ADULT_AGE, TaperProfile, shared_thresholds, taper_profile
from cds_service.clinical.taper_plan import (
    FINAL_DOSE_DE,
    MAX_UNITS_PER_ADMINISTRATION,
    SWITCH_STAGE_DAYS,
    PlannedDose,
    Planner,
    diazepam_switch_plan,
)
from cds_service.clinical.taper_plan import (
    TABLE_NAMES as TABLE_NAMES,
)
from cds_service.clinical.terminology import RXNORM, SimpleCoding
from cds_service.clinical.wording import change, mg, number, percent


@dataclass(frozen=True)
class StepAssessment:
    draft: MedicationCourse
    """The benzodiazepine draft the step concerns (named by the card)."""
    step: DoseStep
    """Under the table the facts are stated in (:attr:`ClinicalFacts.table`)."""
    percent_by_table: dict[EquivalenceTable, Fraction | None]
    is_switch: bool
    several_drugs: bool = False
    """More than one benzodiazepine before or after the step (a switch, a cross-taper, an add-on)."""

    @property
    def percent(self) -> Fraction:
        """The reduction rate rules judge. With several benzodiazepines the tables can disagree, and a limit is
        breached when it is breached under either table: the larger of the two reductions
        (docs/clinical-reference.md §8c; the conversion-ambiguity card speaks instead when they differ by more
        than 15 points on a switch)."""
        if self.several_drugs:
            known = [p for p in self.percent_by_table.values() if p is not None]
            return max(known) if known else self.step.percent_reduction
        return self.step.percent_reduction

    @property
    def is_stop(self) -> bool:
        return self.step.new_de == 0


def judged_by_phase(facts: ClinicalFacts, judge: Callable[[ClinicalFacts], Iterable[Finding]]) -> Iterator[Finding]:
    """``judge`` applied to the step at t and to each later phase of a multi-phase draft at its own start
    (docs/clinical-reference.md §7c): the findings of the first phase that breaks a limit (a warning or
    critical finding), else those of the step at t. A later phase's card says which phase it is; its one-click
    fix would rewrite the whole schedule, so that phase is edited by the prescriber instead."""
    first: list[Finding] | None = None
    for phase in facts.phases:
        found = list(judge(phase))
        if first is None:
            first = found
        if any(f.indicator != "info" for f in found):
            yield from (found if phase.phase_start is None else (_about_phase(facts, phase, f) for f in found))
            return
    yield from first or ()


def _about_phase(facts: ClinicalFacts, phase: ClinicalFacts, finding: Finding) -> Finding:
    start = phase.phase_start
    assert start is not None
    days = (start - facts.evaluation.at.date()).days
    opening, _, rest = finding.detail.partition("\n")
    note = (f"**Phase:** the phase starting {start.isoformat()} ({days} days after this order starts), judged at "
            "its own start.")
    return replace(finding, detail=f"{opening}\n{note}\n{rest}", suggestions=())


def profile_of(facts: ClinicalFacts) -> TaperProfile:
    return taper_profile(facts.evaluation.settings.profile)


def benzodiazepine_draft(facts: ClinicalFacts) -> MedicationCourse | None:
    for draft in facts.evaluated_drafts:
        if counts_toward_taper(draft):
            return draft
    return None


def assess_step(facts: ClinicalFacts) -> StepAssessment | None:
    """The proposed reduction of the total DE, if the evaluated drafts make one (judged once per call)."""
    return facts.once("step-assessment", lambda: _assess_step(facts))


def _assess_step(facts: ClinicalFacts) -> StepAssessment | None:
    history = facts.history
    draft = benzodiazepine_draft(facts)
    if draft is None or not history.current_de or history.proposed_de is None:
        return None
    several = history.is_switch or len(history.current_ingredients | history.proposed_ingredients) > 1
    by_table: dict[EquivalenceTable, Fraction | None] = {}
    for table in TABLES:
        if facts.missing_factors(table):
            by_table[table] = None
        elif table == facts.table or not several:  # one drug: its own dose ratio, the same under every table
            by_table[table] = percent_reduction(history.current_de, history.proposed_de)
        else:
            under = facts.history_under(table)
            known = under.current_de and under.proposed_de is not None
            by_table[table] = percent_reduction(under.current_de, under.proposed_de) if known else None  # type: ignore[arg-type]
    step = DoseStep(history.at, history.current_de, history.proposed_de)
    # a switch is judged whichever table is configured: it is a step when either table sees a reduction
    if not (step.is_reduction or (several and any(p is not None and p > 0 for p in by_table.values()))):
        return None
    return StepAssessment(draft, step, by_table, history.is_switch, several)


def is_older_adult(facts: ClinicalFacts) -> bool:
    age = facts.patient.age_on(facts.evaluation.at.date())
    return age is not None and age >= OLDER_ADULT_AGE


SWITCH_NOT_OFFERED = ("A switch to diazepam is not offered at 65 or older: the Beers criteria (2023) advise avoiding "
                      "benzodiazepines in older adults, long-acting ones such as diazepam especially.")
"""Why no card offers a one-click switch to diazepam to an older adult (docs/clinical-reference.md §9a): the
taper-plan page shows that switch only for comparison at this age (§12)."""


def allowed_reduction_percent(facts: ClinicalFacts, history: BenzodiazepineHistory) -> Fraction:
    """The largest reduction of the current total DE that every applicable limit allows now."""
    profile = profile_of(facts)
    interval = history.interval_days
    minimum_interval = profile.older_adult_min_interval_days if is_older_adult(facts) else profile.min_interval_days
    if interval is not None and interval < minimum_interval:
        return Fraction(0)  # too soon after the last change: any further step waits
    limits = [profile.step_limit_percent]
    already_in = _already_reduced_percent
    if profile.window_days is not None and profile.max_window_percent is not None:
        limits.append(profile.max_window_percent - already_in(history, profile.window_days))
    if profile.max_initial_step_percent is not None and not any(s.is_reduction for s in history.steps):
        limits.append(profile.max_initial_step_percent)
    if history.is_long_term:
        limits.append(profile.long_term_max_percent - already_in(history, profile.long_term_window_days))
    if is_older_adult(facts):
        limits.append(profile.older_adult_max_step_percent)
    return max(Fraction(0), min(limits))


def _already_reduced_percent(history: BenzodiazepineHistory, days: int) -> Fraction:
    """Reduction already made inside the trailing window, before this call's step."""
    start = history.de_on(history.at - timedelta(days=days))
    if not start or history.current_de is None:
        return Fraction(0)
    return max(Fraction(0), (1 - history.current_de / start) * 100)


def _current_de_by_table(facts: ClinicalFacts) -> list[Fraction | None]:
    """The current total under each table; for one drug from its daily mg, without a second history."""
    history = facts.history
    if len(history.current_ingredients) == 1 and history.current_de is not None:
        doses = [(dose.ingredient, dose.mg) for dose in history.current_doses]
        return [diazepam_equivalent(facts.terminology, doses, table).mg for table in TABLES]
    return [facts.history_under(table).current_de for table in TABLES]


def is_final_step(facts: ClinicalFacts) -> bool:
    """The final step (docs/clinical-reference.md §8d): after ≥ 2 reductions in the episode, the current total
    is ≤ 2 mg diazepam-equivalent under either table, or is the smallest dose the patient's product can give
    (half the smallest marketed scored tablet, one smallest capsule). Exempt from the abrupt and rate rules."""
    history = facts.history
    if history.current_de is None \
            or sum(1 for s in history.steps if s.is_reduction) < shared_thresholds().final_step_prior_reductions:
        return False
    if any(de is not None and de <= FINAL_DOSE_DE for de in _current_de_by_table(facts)):
        return True
    draft = benzodiazepine_draft(facts)
    current = _current_mg(facts, draft) if draft is not None else None
    if draft is None or current is None or history.current_ingredients != {draft.product.ingredient}:
        return False
    in_use = _current_product(facts, draft) or draft.product
    smallest = load_dose_forms().smallest_givable_mg(draft.product.ingredient, in_use)
    return smallest is not None and current <= smallest


def is_final_stop(facts: ClinicalFacts, assessment: StepAssessment) -> bool:
    """The step stops the last dose of a taper (:func:`is_final_step`): necessarily 100 %, so the rate limits and
    the older adults' step limit judge only its timing (docs/clinical-reference.md §8d)."""
    return assessment.is_stop and is_final_step(facts)


def _planner(facts: ClinicalFacts, ingredient: str) -> Planner:
    return Planner(ingredient, facts.terminology, load_dose_forms(), facts.table)


def compliant_step(facts: ClinicalFacts, assessment: StepAssessment) -> tuple[PlannedDose | None, Fraction]:
    """The largest compliant next step for the draft's drug that can be given, and the limit used; the
    draft's product is kept when it can give that step (same planner as the taper-plan page).
    ``None`` when no reduction is allowed now or no givable dose keeps the limit."""
    history = facts.history
    allowed = allowed_reduction_percent(facts, history)
    draft = assessment.draft
    current_drug_mg = _current_mg(facts, draft)
    if allowed <= 0 or history.current_de is None or not current_drug_mg:
        return None, allowed
    # the draft's drug takes the whole allowed reduction; the other benzodiazepines stay as drafted
    others_de = (history.proposed_de or Fraction(0)) - _draft_de(facts, draft)
    target_mg = drug_mg(facts.terminology, draft.product.ingredient,
                        history.current_de * (1 - allowed / 100) - others_de, facts.table)
    if target_mg is None or target_mg <= 0:
        return None, allowed
    drug_limit = (1 - target_mg / current_drug_mg) * 100
    dose = _planner(facts, draft.product.ingredient).next_dose(
        current_drug_mg, drug_limit, current_doses_per_day(facts, draft), draft.product)
    return dose, allowed


def _draft_de(facts: ClinicalFacts, draft: MedicationCourse) -> Fraction:
    if draft.ends_order:
        return Fraction(0)
    return course_de(draft, facts.terminology, facts.table) or Fraction(0)


def _current_orders(facts: ClinicalFacts, draft: MedicationCourse) -> list[MedicationCourse]:
    """The active orders of the draft's drug before this call, without those a later order ended (it names it,
    comes from the same requester, or starts after its supply ran out: docs/clinical-reference.md §7a)."""
    today = facts.evaluation.at.date()
    covering = [course for course in facts.courses.existing
                if course.kind == "order" and course.product.ingredient == draft.product.ingredient
                and course.covers(today) and isinstance(course.dose, DailyDose)]
    return [course for course in covering
            if not any(later.start is not None and course.start is not None and later.start > course.start
                       and ends_earlier_order(later, course, later.start) for later in covering)]


def _current_mg(facts: ClinicalFacts, draft: MedicationCourse) -> Fraction | None:
    """The drafted drug's current daily mg (before this call), from the orders it replaces."""
    total = sum((course.dose.mg for course in _current_orders(facts, draft) if isinstance(course.dose, DailyDose)),
                Fraction(0))
    return total or None


def current_daily_mg(facts: ClinicalFacts, draft: MedicationCourse) -> Fraction | None:
    """The drafted drug's own daily mg before this call (the orders the draft replaces), ``None`` if unknown."""
    return _current_mg(facts, draft)


def _current_product(facts: ClinicalFacts, draft: MedicationCourse) -> Product | None:
    orders = _current_orders(facts, draft)
    return orders[0].product if orders else None


def doses_per_day(facts: ClinicalFacts, draft: MedicationCourse) -> int:
    """Administrations per day of a draft as written, for a suggested dose (1–4; 2 when the dosage does not
    say). Read by the one dose parser (dosing.py), never from the raw resource."""
    per_day = draft.dose.administrations_per_day if isinstance(draft.dose, DailyDose) else None
    if per_day is None or per_day < 1:
        return 2
    return max(1, min(round(per_day), 4))


def in_draft_product(draft: MedicationCourse, dose: PlannedDose) -> PlannedDose:
    """``dose`` in the draft's own tablets when whole tablets, or halves of a scored tablet, give every
    administration without more than four at one time (fewest units a dose, docs/clinical-reference.md §9d),
    so that an update changes only the dose. A client that keeps its own unit count and applies
    only a product change (the public sandbox, docs/service-contract.md §8) then never pairs that count with
    another strength."""
    own = draft.product
    if own.ingredient != dose.product.ingredient or own.dose_form != "Oral Tablet" or not own.strength_mg \
            or not own.code or own.combination:
        return dose
    listed = load_dose_forms().by_code(own.code)
    step = Fraction(1, 2) if listed is not None and listed.scored else Fraction(1)
    per_unit = dose.product.strength_mg or Fraction(0)
    units = [a.units * per_unit / own.strength_mg for a in dose.administrations]
    if any((unit / step).denominator != 1 for unit in units):
        return dose
    if max(units) > MAX_UNITS_PER_ADMINISTRATION >= max(a.units for a in dose.administrations):
        return dose  # 7½ of the draft's tablets at one time where 3 of another strength do: fewest units a dose
    return PlannedDose(own, tuple(replace(a, units=unit) for a, unit in zip(dose.administrations, units, strict=True)))


def fewest_units(facts: ClinicalFacts, dose: PlannedDose) -> PlannedDose:
    """``dose`` in another strength of the same form when it takes more than four tablets or capsules at one time
    and that strength gives every administration in fewer (7½ × 2 mg diazepam → 3 × 5 mg): what is signed in one
    click is given in the fewest units a dose (docs/clinical-reference.md §9d)."""
    most = max(a.units for a in dose.administrations)
    form = load_dose_forms().by_code(dose.product.code)
    if form is None or not form.is_solid or most <= MAX_UNITS_PER_ADMINISTRATION or not dose.product.strength_mg:
        return dose
    amounts = [a.units * dose.product.strength_mg for a in dose.administrations]
    best: tuple[Fraction, PlannedDose] | None = None
    for other in load_dose_forms().forms(form.ingredient):
        if other.kind != form.kind or other.code == form.code:
            continue
        units = [amount / other.strength_mg for amount in amounts]
        product = facts.terminology.product([SimpleCoding(RXNORM, other.code)])
        if product is None or any((unit / other.step_units).denominator != 1 for unit in units):
            continue
        if max(units) < (best[0] if best is not None else most):
            best = (max(units), PlannedDose(product, tuple(replace(a, units=unit) for a, unit
                                                           in zip(dose.administrations, units, strict=True))))
    return best[1] if best is not None else dose


def current_doses_per_day(facts: ClinicalFacts, draft: MedicationCourse) -> int:
    """Administrations per day of the patient's current regimen of the draft's drug (its active orders, read by
    the one dose parser), else of the draft as written."""
    counts = [course.dose.administrations_per_day for course in _current_orders(facts, draft)
              if isinstance(course.dose, DailyDose)]
    known = sum((count for count in counts if count is not None), Fraction(0))
    return max(1, min(round(known), 4)) if known >= 1 else doses_per_day(facts, draft)


def update_draft_action(facts: ClinicalFacts, draft: MedicationCourse, dose: PlannedDose,
                        supply_days: Fraction | None = None) -> Action | None:
    """The whole draft resource, changed to ``dose`` (CDS Hooks: an update carries the entire resource), its supply
    recomputed for the draft's days or ``supply_days`` (docs/clinical-reference.md §9b, §9c)."""
    original = facts.evaluation.record.draft_json.get(draft.resource_id or "")
    if original is None:
        return None
    dose = fewest_units(facts, in_draft_product(draft, dose))
    new_product = dose.product is not draft.product or "medicationCodeableConcept" not in original
    updated, supply = updated_order(original, draft, dose, _medication(dose.product) if new_product else None,
                                    supply_days)
    return Action(type="update", resource=updated,
                  description=f"Change the order to {dose.instruction} ({mg(dose.daily_mg)}/day)",
                  dispensed=supply.text if supply is not None else None)


def with_supply(label: str, *actions: Action | None) -> str:
    """A suggestion label that says what its orders dispense (docs/clinical-reference.md §9b)."""
    dispensed = [action.dispensed for action in actions if action is not None and action.dispensed]
    return f"{label}: {'; '.join(dispensed)}" if dispensed else label


def fitted(label: str, detail: str, *actions: Action | None, compact: str | None = None) -> tuple[str, str]:
    """Label and detail of a suggestion: the label says what its orders dispense (§9b) within a label's length
    (:data:`MAX_LABEL`, §6f). When the full label with its supply is longer, ``compact`` (a shorter label)
    carries the quantities alone, and the whole supply closes the suggestion's detail."""
    full = with_supply(label, *actions)
    dispensed = [action.dispensed for action in actions if action is not None and action.dispensed]
    if len(full) <= MAX_LABEL or not dispensed:
        return full, detail
    # "diazepam 7 tablets for 7 days, no refills" → "diazepam 7 tablets": the days and refills are in the detail
    quantities = ", ".join(text.split(" for ")[0] for text in dispensed)
    short = f"{compact or label}: {quantities}"
    return (short if len(short) <= MAX_LABEL else label), f"{detail} Dispenses {'; '.join(dispensed)}."


def _medication(product: Product) -> dict[str, Any]:
    return {"coding": [{"system": RXNORM, "code": product.code, "display": product.display}], "text": product.display}


def _switch_suggestion(facts: ClinicalFacts, draft: MedicationCourse) -> Suggestion | None:
    """Switch to diazepam in two stages (Joint Guideline rec. 7, Table 7 note): this draft becomes the first
    stage's remaining dose of the drug, and a diazepam order is created for the rest. Never at 65 or older
    (:data:`SWITCH_NOT_OFFERED`)."""
    current = _current_mg(facts, draft)
    profile = profile_of(facts)
    if current is None or draft.product.ingredient == "diazepam" or is_older_adult(facts):
        return None
    plan = diazepam_switch_plan(current, facts.evaluation.at.date(), profile, facts.terminology,
                                ingredient=draft.product.ingredient, doses_per_day=current_doses_per_day(facts, draft),
                                long_term=facts.history.is_long_term,
                                table=facts.table, product=_current_product(facts, draft) or draft.product)
    if plan is None or not plan.switch_stages:
        return None
    first = plan.switch_stages[0]
    assert first.dose is not None
    if first.extra is not None:
        # both orders of the first stage supply that stage only: the next stage is a new order
        stage_days = Fraction(SWITCH_STAGE_DAYS)
        update = update_draft_action(facts, draft, first.extra, supply_days=stage_days)
        diazepam: dict[str, Any] = {
            "resourceType": "MedicationRequest", "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{facts.evaluation.patient_id}"},
            "authoredOn": facts.evaluation.at.date().isoformat(),
            "medicationCodeableConcept": _medication(first.dose.product), "dosageInstruction": first.dose.dosage(),
        }
        original = facts.evaluation.record.draft_json.get(draft.resource_id or "") or {}
        supply = new_order_supply(original, first.dose, stage_days)
        if supply is not None:
            diazepam["dispenseRequest"] = dispense_request(supply)
        create = Action(type="create", resource=diazepam,
                        description=f"Order {first.dose.instruction} ({mg(first.dose.daily_mg)}/day)",
                        dispensed=f"diazepam {supply.text}" if supply is not None else None)
        if update is not None and update.dispensed:  # two orders: each supply names its drug
            update = replace(update, dispensed=f"{draft.product.ingredient} {update.dispensed}")
        actions: tuple[Action, ...] = (create, update) if update is not None else ()
        label, detail = fitted(
            f"Switch to diazepam: {mg(first.dose.daily_mg)}/day with {draft.product.ingredient} for "
            f"{SWITCH_STAGE_DAYS} days, then {mg(plan.switch_stages[-1].daily_mg)}/day",
            f"over 1–2 weeks: diazepam {mg(first.dose.daily_mg)}/day with {draft.product.ingredient} "
            f"{mg(first.extra.daily_mg)}/day for {SWITCH_STAGE_DAYS} days, then diazepam "
            f"{mg(plan.switch_stages[-1].daily_mg)}/day alone ({TABLE_NAMES[facts.table]} table; 2025 Joint "
            "Guideline rec. 7).", create, update,
            compact=f"Switch to diazepam, first {SWITCH_STAGE_DAYS} days")
    else:
        change = update_draft_action(facts, draft, first.dose)
        actions = (change,) if change is not None else ()
        label, detail = fitted(f"Switch to diazepam {mg(first.dose.daily_mg)}/day",
                               f"{first.dose.instruction} ({TABLE_NAMES[facts.table]} table; 2025 Joint Guideline "
                               "rec. 7).", change)
    return Suggestion(label=label, actions=actions, detail=detail) if actions else None


def switch_first_stage(facts: ClinicalFacts, diazepam: MedicationCourse, other: MedicationCourse) -> Suggestion | None:
    """A diazepam draft added on top of ``other`` made the first stage of a switch instead (Joint Guideline rec. 7,
    Table 7 note; docs/clinical-reference.md §11g): the draft becomes the first stage's diazepam dose and a new
    order of the other drug, naming its current order, its first-stage dose — both for that stage's days. ``None``
    unless the other drug has exactly one current order and the plan keeps some of it in the first stage, and never
    at 65 or older (:data:`SWITCH_NOT_OFFERED`).

    The update of the diazepam draft comes first: a client that applies only the first action (the public sandbox)
    is then left with the smaller diazepam dose beside the unchanged other drug, which this card names again —
    never with the full diazepam dose beside a reduced other drug."""
    orders = _current_orders(facts, other)
    if diazepam.product.ingredient != "diazepam" or len(orders) != 1 or orders[0].resource_id is None \
            or is_older_adult(facts):
        return None
    [order] = orders
    assert isinstance(order.dose, DailyDose)
    plan = diazepam_switch_plan(order.dose.mg, facts.evaluation.at.date(), profile_of(facts), facts.terminology,
                                ingredient=order.product.ingredient, doses_per_day=current_doses_per_day(facts, other),
                                long_term=facts.history.is_long_term,
                                table=facts.table, product=order.product)
    if plan is None or not plan.switch_stages:
        return None
    first = plan.switch_stages[0]
    if first.dose is None or first.extra is None:
        return None
    stage_days = Fraction(SWITCH_STAGE_DAYS)
    update = update_draft_action(facts, diazepam, first.dose, supply_days=stage_days)
    if update is None:
        return None
    native: dict[str, Any] = {
        "resourceType": "MedicationRequest", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{facts.evaluation.patient_id}"},
        "authoredOn": facts.evaluation.at.date().isoformat(),
        "medicationCodeableConcept": _medication(first.extra.product), "dosageInstruction": first.extra.dosage(),
        "priorPrescription": {"reference": f"MedicationRequest/{order.resource_id}"},
    }
    original = facts.evaluation.record.draft_json.get(diazepam.resource_id or "") or {}
    supply = new_order_supply(original, first.extra, stage_days)
    if supply is not None:
        native["dispenseRequest"] = dispense_request(supply)
    drug = order.product.ingredient
    create = Action(type="create", resource=native,
                    description=f"Order {first.extra.instruction} ({mg(first.extra.daily_mg)}/day) in place of the "
                                f"current {drug} order",
                    dispensed=f"{drug} {supply.text}" if supply is not None else None)
    if update.dispensed:
        update = replace(update, dispensed=f"diazepam {update.dispensed}")
    label, detail = fitted(
        f"First stage of a switch: diazepam {mg(first.dose.daily_mg)}/day, {drug} {mg(first.extra.daily_mg)}/day",
        f"for {SWITCH_STAGE_DAYS} days, then diazepam {mg(plan.switch_stages[-1].daily_mg)}/day alone "
        f"({TABLE_NAMES[facts.table]} table; 2025 Joint Guideline rec. 7).", update, create,
        compact=f"First {SWITCH_STAGE_DAYS} days of a switch to diazepam")
    return Suggestion(label=label, actions=(update, create), detail=detail)


def step_suggestions(facts: ClinicalFacts, assessment: StepAssessment) -> tuple[Suggestion, ...]:
    """One click: the largest compliant step that can be given; or, when none is allowed now, keep the current
    dose — and where the drug's forms cannot keep the pace, a switch to diazepam."""
    dose, allowed = compliant_step(facts, assessment)
    draft = assessment.draft
    if dose is not None:
        action = update_draft_action(facts, draft, dose)
        if action is not None:
            label = with_supply(f"Reduce to {mg(dose.daily_mg)}/day instead (≤ {percent(allowed)} step)", action)
            return (Suggestion(label=label, actions=(action,), is_recommended=True),)
    suggestions: list[Suggestion] = []
    if draft.resource_id:
        keep = Action(type="delete", description="Withdraw this change and keep the current dose for now",
                      resource_id=f"MedicationRequest/{draft.resource_id}")
        ingredient = draft.product.ingredient
        if allowed == 0:
            why, detail = "too soon after the last change", ""
        else:
            why = f"no {ingredient} form gives a ≤ {percent(allowed)} step"
            detail = f"the smallest amounts of {ingredient} that can be given are " \
                f"{_planner(facts, ingredient).limits_text()}."
            if is_older_adult(facts) and ingredient != "diazepam":
                detail += " " + SWITCH_NOT_OFFERED
        suggestions.append(Suggestion(label=f"Keep the current dose for now ({why})", actions=(keep,), detail=detail))
    if allowed > 0:
        switch = _switch_suggestion(facts, draft)
        if switch is not None:
            suggestions.append(switch)
    return tuple(suggestions)


def plan_links(facts: ClinicalFacts, draft: MedicationCourse) -> tuple[Link, ...]:
    """A link to the taper-plan page for the patient's situation (never identifiers), when it can be drawn."""
    base = facts.evaluation.settings.taper_plan_url
    current = _current_mg(facts, draft)
    if base is None or current is None or draft.product.ingredient not in load_dose_forms().ingredients:
        return ()
    age = facts.patient.age_on(facts.evaluation.at.date())
    query = urlencode({
        "drug": draft.product.ingredient, "dose": number(current), "profile": profile_of(facts).code,
        "long_term": "yes" if facts.history.is_long_term else "no",
        "age": "unknown" if age is None else ("65-plus" if age >= OLDER_ADULT_AGE else "under-65"),
        "doses_per_day": current_doses_per_day(facts, draft),
        # the draft's product, so that the page's plan starts where the card's one-click step does
        **({"product": draft.product.code} if load_dose_forms().by_code(draft.product.code) else {}),
    })
    return (Link(label=f"Proposed {draft.product.ingredient} taper schedule", url=f"{base}?{query}"),)


def drug_dose_lines(history: BenzodiazepineHistory) -> list[str]:
    """Each benzodiazepine's own daily dose before and after the call's orders, in mg of the drug (and mL of a
    liquid) — what the prescriber writes, beside the diazepam-equivalents (docs/clinical-reference.md §6f)."""
    before = {d.ingredient: d for d in history.current_doses}
    after = {d.ingredient: d for d in history.proposed_doses}

    def amount(dose: DrugDose | None, absent: str) -> str:
        if dose is None:
            return absent
        return f"{mg(dose.mg)}/day" + (f" ({number(dose.ml)} mL)" if dose.ml is not None else "")

    return [f"- {ingredient.capitalize()}: {amount(before.get(ingredient), 'not taken')} → "
            f"{amount(after.get(ingredient), 'stopped')}."
            for ingredient in sorted(before.keys() | after.keys())
            if before.get(ingredient) != after.get(ingredient) or len(before | after) > 1]


def step_facts(facts: ClinicalFacts, assessment: StepAssessment, with_tables: bool = True) -> list[str]:
    """Detail lines every rate card shares: each drug's own dose, the total DE under both tables with the step %,
    interval, age. ``with_tables=False`` leaves out the total and the other table's verdict (a card that states
    each table's verdict itself)."""
    history = facts.history
    step = assessment.step
    lines = drug_dose_lines(history)
    if with_tables:
        lines.append(f"- Total benzodiazepine dose: {mg(step.previous_de)} → {mg(step.new_de)} diazepam-equivalent/day "
                     f"({change(step.percent_reduction)}; {TABLE_NAMES[facts.table]} table).")
        other = other_table(facts.table)
        if (other_percent := assessment.percent_by_table.get(other)) is not None:
            lines.append(f"- Under the {TABLE_NAMES[other]} table: {change(other_percent)}.")
    interval = history.interval_days
    # the rate a card judges is stated once, by the card, over the window its rule uses
    lines.append(f"- Previous dose change: {interval} days ago." if interval is not None and interval > 0
                 else "- No earlier dose change in this episode.")
    lines.append(f"- Pace judged against: the {profile_of(facts).name}.")
    if history.episode_start is not None:
        lines.append(f"- Benzodiazepine use since {history.episode_start.isoformat()} "
                     f"({history.episode_days} days{', long-term' if history.is_long_term else ''}).")
    age = facts.patient.age_on(facts.evaluation.at.date())
    lines.append(f"- Age {age}." if age is not None else "- Age unknown: no birth date in the record.")
    lines.extend(missing_factor_lines(facts))
    for note in history.unknown_doses:
        lines.append(f"- Dose could not be computed for {note}.")
    return lines


def missing_factor_lines(facts: ClinicalFacts) -> list[str]:
    """Says which equivalence factor the configured table lacks and which table was used instead (§8c)."""
    missing = facts.missing_factors(facts.configured_table)
    if facts.table == facts.configured_table or not missing:
        return []
    drugs = ", ".join(missing)
    return [f"- The {TABLE_NAMES[facts.configured_table]} table has no equivalence factor for {drugs}: "
            f"diazepam-equivalents here use the {TABLE_NAMES[facts.table]} table (a change of {drugs} alone is "
            "judged by its own dose ratio, the same under every table)."]

"""Card ``baclofen-adjunct``: baclofen is not a benzodiazepine-taper adjunct.

Guidance (seed, "Baclofen Should Not Be Used for Diazepam Tapers"): "Baclofen is not recommended as an
adjunctive agent during benzodiazepine (diazepam) tapering. The available evidence does not support
this practice, and there are significant safety concerns." — "Adding baclofen during a diazepam taper
creates the risk of managing withdrawal from two different medications simultaneously."
2025 Joint Guideline: baclofen is not among the symptom-targeted adjuncts (Tables 10–11); pausing or
slowing the taper comes first (rec. 11).

Trigger (docs/clinical-reference.md §6b "Baclofen adjunct"): a new *oral* baclofen draft order while the patient is in
a taper context (a reduction in the last 90 days, or one proposed by another draft), with no spasticity
indication (spasticity, multiple sclerosis, spinal cord injury, cerebral palsy; muscle cramps or spasms are
withdrawal symptoms, not an indication) and no baclofen order, fill or statement in the 90 days before
(docs/clinical-reference.md §7g: a renewal is continuing therapy — card ``baclofen-cotherapy``).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from cds_service.clinical.declaration import Declaration, draft_of
from cds_service.clinical.dosing import DailyDose
from cds_service.clinical.equivalence import TABLE_NAMES
from cds_service.clinical.facts import NEW_DRUG_DAYS, ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Suggestion, draft_removal
from cds_service.clinical.history import BenzodiazepineHistory
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.orders import (
    BEDTIME_TIMING,
    COGNITIVE_BEHAVIOURAL_THERAPY,
    GABAPENTIN_100_MG_CAPSULE,
    consultation_request,
    draft_medication_request,
)
from cds_service.clinical.renal_dosing import label_row, max_daily_mg
from cds_service.clinical.wording import measured, mg, percent, plain_text

CARD_TYPE = "baclofen-adjunct"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/23"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Baclofen is not a taper adjunct",
    indicators=("warning",),
    rank=110,
    gates=(("a baclofen draft", draft_of("baclofen")),),
)
"""2025 Joint Guideline pocket guide, Table 10 (adjuncts for taper-related symptoms)."""
GABAPENTIN_START_MG = Fraction(100)
"""The gabapentin start this card offers: one 100 mg capsule (the smallest marketed) at bedtime."""


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    history = facts.history
    if not history.in_taper_context:
        return
    if any(facts.patient.current("spasticity")):
        return
    for draft in facts.evaluated_drafts:
        if not _is_new_oral_baclofen(draft, facts):
            continue
        yield _finding(draft, facts, history)


def _is_new_oral_baclofen(draft: MedicationCourse, facts: ClinicalFacts) -> bool:
    """New (no baclofen order, fill or statement in the 90 days before) and oral; a renewal or a dose change of
    baclofen the patient takes is not "adding" it (docs/clinical-reference.md §7g)."""
    return draft.product.drug_class == "baclofen" and draft.product.route == "oral" and not draft.ends_order \
        and not facts.continuing(draft)


def _finding(draft: MedicationCourse, facts: ClinicalFacts, history: BenzodiazepineHistory) -> Finding:
    order = draft.label
    dose = f" ({mg(draft.dose.mg)}/day)" if isinstance(draft.dose, DailyDose) else ""
    table = TABLE_NAMES[facts.table]
    taper_lines = []
    if (step := history.recent_reduction) is not None:
        taper_lines.append(
            f"- Benzodiazepine total reduced from {mg(step.previous_de)} to {mg(step.new_de)} diazepam-equivalent/day "
            f"on {step.day.isoformat()} ({percent(step.percent_reduction)}; {table} table)."
        )
    if (proposed := history.proposed_step) is not None and proposed.is_reduction:
        taper_lines.append(
            f"- This session's orders reduce it from {mg(proposed.previous_de)} to {mg(proposed.new_de)} "
            f"diazepam-equivalent/day ({percent(proposed.percent_reduction)})."
        )
    avoid_gabapentin = [*facts.patient.ever("sedative-use-disorder"),
                        *facts.patient.ever("sedative-use-disorder-in-remission"),
                        *facts.patient.current("substance-use-disorder")]
    not_gabapentin = ([f"the record shows {', '.join(sorted({p.display for p in avoid_gabapentin}))} — the 2025 Joint "
                       "Guideline advises avoiding gabapentin with a history of sedative use disorder (Table 10) and "
                       "warns of misuse."] if avoid_gabapentin else [])
    if (kidneys := _gabapentin_start_above_label(facts)) is not None:
        not_gabapentin.append(kidneys[0].upper() + kidneys[1:] if not_gabapentin else kidneys)
    detail = "\n".join([
        f"**Order:** {order}{dose} — new oral baclofen during a benzodiazepine taper.",
        "",
        "**Why this card:**",
        *taper_lines,
        "- No spasticity indication (spasticity, multiple sclerosis, spinal cord injury, cerebral palsy) "
        f"is recorded, and no baclofen was ordered, dispensed or reported in the {NEW_DRUG_DAYS} days before this "
        "order.",
        "",
        "**Guidance:** Baclofen is not recommended as an adjunct during benzodiazepine tapering: there is no "
        "evidence for it in benzodiazepine withdrawal, and stopping or reducing baclofen itself can cause "
        "hallucinations, delirium and seizures — the patient would then face withdrawal from two drugs. "
        "If taper symptoms are the problem, first pause or slow the taper (2025 Joint Guideline rec. 11). "
        "Evidence-based options: carbamazepine 200–800 mg/day; gabapentin 100–300 mg at bedtime or three "
        "times daily, titrated by 100–300 mg every 1–7 days; CBT during the taper.",
        *(["", f"**Gabapentin not suggested:** {' '.join(not_gabapentin)}"] if not_gabapentin else []),
    ])
    instead = "CBT" if not_gabapentin else "gabapentin or CBT"
    return Finding(
        card_type=CARD_TYPE,
        indicator="warning",
        summary=f"Baclofen is not a benzodiazepine-taper adjunct: remove it; consider {instead} instead",
        detail=detail,
        order_id=draft.resource_id,
        source_url=SOURCE_URL,
        suggestions=tuple(_suggestions(draft, facts, offer_gabapentin=not not_gabapentin)),
    )


def _gabapentin_start_above_label(facts: ClinicalFacts) -> str | None:
    """Why the gabapentin start this card would offer is above the label for the patient's kidney function, or
    ``None``. Below 15 mL/min the Neurontin label reduces the dose in proportion to CrCl (Table 1, footnote a), so
    below 5 mL/min its maximum is less than one 100 mg capsule; with hemodialysis it adds a dose after each session
    (docs/clinical-reference.md §4a). Without a current result nothing is said: 100 mg is within every row (§11m).
    E.g. CrCl 4 mL/min: at most 300 × 4 ÷ 15 = 80 mg/day."""
    renal = facts.renal_function
    if renal is None or renal.stale:
        return None
    row = label_row("gabapentin", renal.ml_per_min)
    if row is None:
        return None
    maximum = max_daily_mg(row, renal.ml_per_min)
    if GABAPENTIN_START_MG <= maximum:
        return None
    below = row.get("proportional_below")
    arithmetic = (f"reduces the dose in proportion to CrCl below {below} mL/min: {row['max_mg']} × "
                  f"{measured(renal.ml_per_min)} ÷ {below} = {mg(maximum)}/day" if below is not None
                  else f"allows at most {mg(maximum)}/day")
    return (f"kidney function {renal.stated}: the Neurontin label (Table 1, row {row['label']}) {arithmetic}, less "
            f"than one {mg(GABAPENTIN_START_MG)} capsule, the smallest marketed; with hemodialysis it adds a dose "
            "after each session.")


def _suggestions(draft: MedicationCourse, facts: ClinicalFacts, *, offer_gabapentin: bool) -> Iterator[Suggestion]:
    patient_id = facts.evaluation.patient_id
    authored_on = facts.evaluation.at.date().isoformat()
    if draft.resource_id:
        removal = draft_removal("Remove the baclofen order",
                                f"Remove the baclofen order {plain_text(draft.product.display)}", draft.resource_id)
        yield removal
        if offer_gabapentin:
            gabapentin = draft_medication_request(
                patient_id, GABAPENTIN_100_MG_CAPSULE, 1, "{capsule}", BEDTIME_TIMING,
                "gabapentin 100 mg by mouth at bedtime; titrate by 100–300 mg every 1–7 days as tolerated",
                authored_on,
            )
            # The create comes first: CDS Hooks gives actions no order, and the public sandbox applies only the
            # first action it understands (docs/service-contract.md §8, §9) — deleting alone would lose the swap.
            yield Suggestion(
                label="Replace baclofen with gabapentin 100 mg at bedtime",
                actions=(Action(type="create", description="Order gabapentin 100 mg at bedtime", resource=gabapentin),
                         *removal.actions),
            )
    cbt = consultation_request(
        patient_id,
        COGNITIVE_BEHAVIOURAL_THERAPY,
        reason="Cognitive behavioural therapy to support a benzodiazepine taper",
        clinical_summary=(
            "Patient is tapering a benzodiazepine; CBT during the taper increases success rates. "
            "Please confirm you can accept this patient."
        ),
        authored_on=authored_on,
    )
    yield Suggestion(
        label="Refer for CBT to support the taper",
        actions=(Action(type="create", description="Request cognitive behavioural therapy", resource=cbt),),
    )

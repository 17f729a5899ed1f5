"""Card ``specialist-referral`` (warning): a referral trigger on a taper order.

Seed guidance, "When to Refer to a Specialist": "History of withdrawal seizures. Unstable psychiatric
comorbidities. Co-occurring substance use disorders. Previous unsuccessful office-based tapering
attempts." — and "Do not make 'cold referrals'". 2025 Joint Guideline rec. 5, 12, 19–20, 24, 26.

Triggers (docs/clinical-reference.md §6b, §7h, §11i): withdrawal-seizure history (any clinical status;
sedative-, drug- or alcohol-withdrawal seizures, or such withdrawal co-coded with convulsions); an active
bipolar, psychotic or major depressive disorder with suicidal ideation in the last 90 days; an active
substance use disorder (not in remission); a prior unsuccessful taper; clonazepam or clobazam reduced in a
patient with epilepsy or another seizure disorder (neurology). One card per call, naming every trigger found
and the specialty, on the benzodiazepine draft (else the first evaluated order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta

from cds_service.clinical.declaration import Declaration
from cds_service.clinical.dosing import DailyDose
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Suggestion
from cds_service.clinical.history import FAILED_TAPER_RETURN_DAYS, TAPER_CONTEXT_DAYS
from cds_service.clinical.orders import consultation_request
from cds_service.clinical.patient import CodedProblem
from cds_service.clinical.taper_step import benzodiazepine_draft
from cds_service.clinical.wording import mg

CARD_TYPE = "specialist-referral"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/7"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Refer to a specialist",
    indicators=("warning",),
    rank=90,
    gates=((f"a taper (a reduction in the last {TAPER_CONTEXT_DAYS} days or in this call)",
            lambda facts: facts.history.in_taper_context),),
)
SUICIDAL_IDEATION_DAYS = 90
ANTIEPILEPTIC_BENZODIAZEPINES = ("clonazepam", "clobazam")
NEUROLOGY = " — refer to neurology"
_PSYCHIATRIC = ("bipolar", "schizophrenia-psychosis", "major-depression")


def triggers(facts: ClinicalFacts) -> list[str]:
    patient = facts.patient
    today = facts.evaluation.at.date()
    found = []
    seizures = patient.ever("withdrawal-seizure")
    if seizures:
        found.append(f"history of withdrawal seizures ({_codes(seizures)})")
    elif (withdrawal := patient.ever("sedative-withdrawal") + patient.ever("alcohol-withdrawal")) \
            and patient.ever("convulsions"):
        found.append(f"history of withdrawal seizures (withdrawal with convulsions: "
                     f"{_codes(withdrawal + patient.ever('convulsions'))})")
    psychiatric = [p for concept in _PSYCHIATRIC for p in patient.current(concept)]
    recent_ideation = [p for p in patient.current("suicidal-ideation")
                       if p.recorded is None or today - p.recorded <= timedelta(days=SUICIDAL_IDEATION_DAYS)]
    if psychiatric and recent_ideation:
        found.append(f"unstable psychiatric comorbidity ({_codes([*psychiatric, *recent_ideation])})")
    disorders = patient.current("substance-use-disorder")
    if disorders:
        found.append(f"co-occurring substance use disorder ({_codes(disorders)})")
    antiepileptic = _reduced_antiepileptic(facts)
    seizure_disorder = patient.current("epilepsy")
    if antiepileptic and seizure_disorder:
        drug = antiepileptic.split()[0]
        found.append(f"{antiepileptic} in a patient with a seizure disorder ({_codes(seizure_disorder)}): "
                     f"{drug} is also an antiepileptic{NEUROLOGY}")
    failed = facts.history.prior_failed_taper
    if failed is not None:
        found.append(f"previous unsuccessful taper (reduced from {mg(failed.previous_de)} to {mg(failed.new_de)} "
                     f"diazepam-equivalent/day on {failed.day.isoformat()}, then back within "
                     f"{FAILED_TAPER_RETURN_DAYS} days)")
    return found


def _reduced_antiepileptic(facts: ClinicalFacts) -> str | None:
    """``clonazepam reduced``, ``clobazam stopped``…: an evaluated draft lowering or stopping an antiepileptic
    benzodiazepine the patient takes (docs/clinical-reference.md §11i)."""
    today = facts.evaluation.at.date()
    for draft in facts.evaluated_drafts:
        ingredient = draft.product.ingredient
        if ingredient not in ANTIEPILEPTIC_BENZODIAZEPINES:
            continue
        current = [c.dose.mg for c in facts.courses.existing if c.product.ingredient == ingredient
                   and c.covers(today) and isinstance(c.dose, DailyDose)]
        if current and draft.ends_order:
            return f"{ingredient} stopped"
        if current and isinstance(draft.dose, DailyDose) and draft.dose.mg < max(current):
            return f"{ingredient} reduced"
    return None


def _codes(problems: Iterable[CodedProblem]) -> str:
    return "; ".join(sorted({f"{p.display} {'/'.join(p.codes)}" for p in problems}))


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    if not facts.history.in_taper_context:
        return
    tapered = benzodiazepine_draft(facts)
    draft = tapered or next(iter(facts.evaluated_drafts), None)
    if draft is None:
        return
    # the card is about the benzodiazepine taper, whichever order of the call raised it: an adjunct ordered during
    # an alprazolam taper is an "alprazolam taper" card, never a "gabapentin taper" one
    taper_drug = tapered.product.ingredient if tapered is not None else \
        " and ".join(sorted(facts.history.current_ingredients)) or "benzodiazepine"
    found = triggers(facts)
    if not found:
        return
    neurology = [t for t in found if t.endswith(NEUROLOGY)]
    addiction = [t for t in found if not t.endswith(NEUROLOGY)]
    specialists = [*(["neurology"] if neurology else []), *(["addiction medicine / psychiatry"] if addiction else [])]
    history = facts.history
    current = f"{mg(history.current_de)} diazepam-equivalent/day" if history.current_de is not None else "unknown"
    referral = consultation_request(
        facts.evaluation.patient_id,
        f"Consultation: {' and '.join(specialists)} — benzodiazepine taper",
        reason="Benzodiazepine taper with " + "; ".join(found),
        clinical_summary=(f"Patient tapering a benzodiazepine (current total {current}); referral triggers: "
                          + "; ".join(found) + ". Please confirm you can accept the patient's care."),
        authored_on=facts.evaluation.at.date().isoformat(),
    )
    guidance = []
    if addiction:
        guidance.append(
            "Refer to a specialist (addiction medicine, addiction psychiatry, medical toxicology) for these patients "
            "(the taper summary guidance); consider inpatient or residential care for severe or complicated "
            "withdrawal (2025 Joint Guideline rec. 5, 12) and treat a substance use disorder alongside the taper "
            "(rec. 20).")
    if neurology:
        guidance.append(
            "Clonazepam and clobazam also treat seizures: lowering them can provoke seizures in epilepsy, so plan "
            "the reduction with the patient's neurologist (docs/clinical-reference.md §11i).")
    detail = "\n".join([
        f"**Order:** {draft.label} — part of a benzodiazepine taper." if tapered is not None else
        f"**Order:** {draft.label} — ordered during the {taper_drug} taper.",
        "",
        "**Why this card:**",
        *[f"- {trigger[0].upper()}{trigger[1:]}." for trigger in found],
        "",
        "**Guidance:** " + " ".join(guidance) + " Make sure the specialist has agreed to see the patient — no cold "
        "referrals.",
    ])
    yield Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary=f"{taper_drug.capitalize()} taper: refer to {' and '.join(specialists)} — "
                + found[0].split(" (")[0],
        detail=detail, order_id=draft.resource_id, source_url=SOURCE_URL,
        suggestions=(Suggestion(f"Request a specialist consultation ({' and '.join(specialists)})", (
            Action(type="create", description="Request consultation for the taper", resource=referral),),
            is_recommended=True),),
    )

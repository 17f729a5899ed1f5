"""Card ``opioid-benzodiazepine`` (warning; info when rescue naloxone is on hand): an opioid with a
benzodiazepine or Z-drug.

CDC 2022 opioid guideline rec. 11: "Clinicians should use particular caution when prescribing opioid pain
medication and benzodiazepines concurrently". 2025 Joint Guideline rec. 16 (with co-prescribed opioids,
reassess at least every 3 months), rec. 17 (offer naloxone to every patient taking both), rec. 21 (never
discontinue or disrupt buprenorphine or methadone for opioid use disorder to taper a benzodiazepine).

Trigger (docs/clinical-reference.md §10): after every draft of the call is applied the patient has an
active opioid and an active benzodiazepine or Z-drug, and the drafts the call asks about include either.
One card per call. Its one suggestion is a draft naloxone 4 mg nasal spray order, left out (and the card
is info) when rescue naloxone was ordered or dispensed in the last 12 months or is ordered in this call.
For opioid-use-disorder treatment the card says not to stop or reduce it for the taper; no suggestion of
this card ever changes an opioid order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cds_service.clinical.declaration import Declaration
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Link, Suggestion
from cds_service.clinical.history import counts_toward_taper
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.opioids import (
    OpioidCourse,
    OpioidExposure,
    opioid_drafts,
    opioid_exposure,
    still_active,
)
from cds_service.clinical.orders import naloxone_rescue_request
from cds_service.clinical.taper_step import TABLE_NAMES
from cds_service.clinical.wording import mg, plain_text

CARD_TYPE = "opioid-benzodiazepine"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/10"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Opioid with a benzodiazepine",
    indicators=("warning", "info"),
    rank=100,
)
CDC_URL = "https://www.cdc.gov/mmwr/volumes/71/rr/rr7103a1.htm"


def _is_sedative(course: MedicationCourse) -> bool:
    return counts_toward_taper(course) or (course.product.drug_class == "z-drug" and not course.inpatient)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    sedative_drafts = [d for d in facts.evaluated_drafts if _is_sedative(d)]
    oud_diagnosed = bool(facts.patient.ever("opioid-use-disorder"))
    drafts = opioid_drafts(facts.evaluation, facts.terminology, oud_diagnosed)
    wanted = facts.evaluation.evaluated_order_ids
    evaluated_opioids = [d for d in drafts.orders if wanted is None or d.course.resource_id in wanted]
    if not (sedative_drafts or evaluated_opioids):
        return
    today = facts.evaluation.at.date()
    all_drafts = facts.courses.drafts
    z_drugs = sorted({c.product.ingredient for c in facts.courses.existing
                      if c.product.drug_class == "z-drug" and still_active(c, all_drafts, today)}
                     | {d.product.ingredient for d in all_drafts if d.product.drug_class == "z-drug"
                        and not d.ends_order})
    benzodiazepines = sorted(facts.history.proposed_ingredients)
    if not benzodiazepines and not z_drugs:
        return
    exposure = opioid_exposure(facts.evaluation, facts.terminology, oud_diagnosed, drafts)
    if not exposure.active:
        return
    order = next((d for d in sedative_drafts if not d.ends_order), None) or next(iter(sedative_drafts), None) \
        or evaluated_opioids[0].course
    yield _finding(facts, exposure, order, benzodiazepines, z_drugs)


def _finding(facts: ClinicalFacts, exposure: OpioidExposure, order: MedicationCourse, benzodiazepines: list[str],
             z_drugs: list[str]) -> Finding:
    treatment = [c for c in exposure.active if c.oud_treatment]
    opioids = _names(c.opioid.ingredient for c in exposure.active)
    sedatives = _names([*benzodiazepines, *z_drugs])
    naloxone = exposure.rescue_naloxone
    lines = [
        f"**Order:** {order.label} — {_role_of(order)}.",
        "",
        "**Why this card:**",
        *[f"- Opioid: {_opioid_line(c)}." for c in exposure.active],
        *_sedative_lines(facts, benzodiazepines, z_drugs),
        (f"- Rescue naloxone: {plain_text(naloxone.what)}, {naloxone.how} on {naloxone.day.isoformat()}."
         if naloxone is not None else "- Rescue naloxone: none ordered or dispensed in the last 12 months."),
        "",
        "**What to do:**",
        f"- Taking an opioid with a {'benzodiazepine' if benzodiazepines else 'Z-drug'} raises the risk of fatal "
        "overdose: use particular caution with the combination (CDC 2022 opioid guideline rec. 11).",
        "- Reassess the benefits and risks of both at least every 3 months while they are prescribed together "
        "(2025 Joint Guideline rec. 16).",
        ("- Offer naloxone and teach the patient and household to use it (rec. 17): the suggested order is "
         "naloxone 4 mg nasal spray, two devices." if naloxone is None else
         "- Naloxone is on hand: check the patient still has it and knows how to use it (rec. 17)."),
    ]
    for course in treatment:
        lines.append(f"- Do not stop or reduce {course.opioid.ingredient} for opioid use disorder to taper the "
                     f"{'benzodiazepine' if benzodiazepines else 'Z-drug'}: keep it unchanged while tapering "
                     "(rec. 21).")
    if treatment:
        summary = (f"{_names(c.opioid.ingredient for c in treatment).capitalize()} for opioid use disorder with "
                   f"{sedatives}: do not stop or reduce it for a taper; "
                   + ("offer naloxone" if naloxone is None else "naloxone on hand"))
    else:
        kind = "benzodiazepine" if benzodiazepines else "Z-drug"
        summary = f"Opioid with a {kind}: {opioids} + {sedatives} — " + (
            "offer naloxone; reassess at least every 3 months" if naloxone is None
            else "naloxone on hand; reassess at least every 3 months")
    suggestions: tuple[Suggestion, ...] = ()
    if naloxone is None:
        suggestions = (Suggestion("Order naloxone 4 mg nasal spray", (Action(
            type="create", description="Draft order: naloxone 4 mg nasal spray, two devices",
            resource=naloxone_rescue_request(facts.evaluation.patient_id, facts.evaluation.at.date().isoformat()),
        ),), is_recommended=True),)
    return Finding(
        card_type=CARD_TYPE, indicator="warning" if naloxone is None else "info", summary=summary,
        detail="\n".join(lines), order_id=order.resource_id, source_url=SOURCE_URL, suggestions=suggestions,
        links=(Link("CDC 2022 opioid prescribing guideline (recommendation 11)", CDC_URL),),
    )


def _role_of(order: MedicationCourse) -> str:
    what = "opioid" if order.product.drug_class == "opioid" else (
        "benzodiazepine" if order.product.drug_class == "benzodiazepine" else "Z-drug")
    others = "an opioid" if what != "opioid" else "a benzodiazepine or Z-drug"
    return f"{'an' if what == 'opioid' else 'a'} {what} {'stop' if order.ends_order else 'order'} for a patient " \
           f"who takes {others}"


def _opioid_line(course: OpioidCourse) -> str:
    use = " — treatment of opioid use disorder" if course.oud_treatment else ""
    return f"{course.course.label}{use}"


def _sedative_lines(facts: ClinicalFacts, benzodiazepines: list[str], z_drugs: list[str]) -> list[str]:
    lines = []
    if benzodiazepines:
        history = facts.history
        total = (f"{mg(history.proposed_de)} diazepam-equivalent/day in total after this call's orders "
                 f"({TABLE_NAMES[facts.table]} table)" if history.proposed_de is not None
                 else "total diazepam-equivalent unknown (a dose could not be read)")
        lines.append(f"- Benzodiazepine: {_names(benzodiazepines)}, {total}.")
    if z_drugs:
        lines.append(f"- Z-drug: {_names(z_drugs)}.")
    return lines


def _names(names: Iterable[str]) -> str:
    unique = list(dict.fromkeys(names))
    return " and ".join(unique) if len(unique) < 3 else ", ".join(unique[:-1]) + " and " + unique[-1]

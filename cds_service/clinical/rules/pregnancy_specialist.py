"""Card ``pregnancy-specialist`` (warning; critical when discontinuing).

Seed guidance: "Pregnant patients should not taper benzodiazepines without specialist consultation, as
withdrawal can cause spontaneous abortion and premature labor." 2025 Joint Guideline rec. 28: weigh risks
and benefits for the maternal–fetal dyad. Trigger (docs/clinical-reference.md §6b "Pregnant", §6c): pregnant and any
benzodiazepine reduction; critical when the drafts stop the benzodiazepine.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import A_STEP, Declaration
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Suggestion
from cds_service.clinical.orders import consultation_request
from cds_service.clinical.taper_step import assess_step, step_facts
from cds_service.clinical.wording import mg

CARD_TYPE = "pregnancy-specialist"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/11"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Pregnancy: specialist consultation",
    indicators=("critical", "warning"),
    rank=20,
    gates=(A_STEP, ("evidence of pregnancy", lambda facts: facts.pregnancy is not None)),
)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    assessment = assess_step(facts)
    if assessment is None or facts.pregnancy is None:
        return
    evidence = facts.pregnancy
    stop = assessment.is_stop
    summary_line = (f"{assessment.draft.label} — {'stops' if stop else 'reduces'} a benzodiazepine during "
                    "pregnancy.")
    referral = consultation_request(
        facts.evaluation.patient_id,
        "Consultation: maternal-fetal medicine / perinatal psychiatry — benzodiazepine taper in pregnancy",
        reason=f"Benzodiazepine {'discontinuation' if stop else 'taper'} during pregnancy ({evidence})",
        clinical_summary=(f"Pregnant patient; proposed change to {assessment.draft.label}: total "
                          f"{mg(assessment.step.previous_de)} → {mg(assessment.step.new_de)} "
                          "diazepam-equivalent/day. Please confirm you can see her before the taper proceeds."),
        authored_on=facts.evaluation.at.date().isoformat(),
    )
    detail = "\n".join([
        f"**Order:** {summary_line}",
        "",
        "**Why this card:**",
        f"- Pregnancy: {evidence}.",
        *step_facts(facts, assessment),
        "",
        "**Guidance:** Pregnant patients should not taper benzodiazepines without specialist consultation "
        "(the taper summary guidance). The 2025 Joint Guideline asks to weigh risks and benefits for the "
        "maternal–fetal dyad, use the lowest effective dose and monitor closely (rec. 28).",
    ])
    yield Finding(
        card_type=CARD_TYPE, indicator="critical" if stop else "warning",
        summary=(f"Pregnancy: do not stop {assessment.draft.product.ingredient} without specialist consultation"
                 if stop else
                 f"Pregnancy: consult a specialist before tapering {assessment.draft.product.ingredient}"),
        detail=detail, order_id=assessment.draft.resource_id, source_url=SOURCE_URL,
        suggestions=(Suggestion("Request a specialist consultation", (
            Action(type="create", description="Request consultation before the taper", resource=referral),),
            is_recommended=True),),
    )

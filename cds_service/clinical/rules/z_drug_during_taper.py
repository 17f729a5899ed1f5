"""Card ``z-drug-during-taper`` (warning): a new zolpidem, zaleplon, eszopiclone or zopiclone order in a taper.

2025 Joint Guideline Table 11 footnote: "Non-BZD sedative–hypnotics (e.g., Z-drugs) are not recommended
for patients … undergoing BZD taper due to similar receptor action." Trigger (docs/clinical-reference.md §6c): a new
Z-drug draft in a taper context. Fixes: remove the draft; refer for CBT-I (rec. 10).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import Declaration, draft_of
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Suggestion, draft_removal
from cds_service.clinical.orders import consultation_request
from cds_service.clinical.profiles import OLDER_ADULT_AGE
from cds_service.clinical.wording import plain_text

CARD_TYPE = "z-drug-during-taper"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/25"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Z-drug during a taper",
    indicators=("warning",),
    rank=120,
    gates=(("a Z-drug draft", draft_of("z-drug")),),
)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    if not facts.history.in_taper_context:
        return
    for draft in facts.evaluated_drafts:
        if draft.product.drug_class != "z-drug" or draft.ends_order or facts.continuing(draft):
            continue  # a Z-drug the patient already takes is never suggested for removal: stopping it is a withdrawal
        suggestions = []
        if draft.resource_id:
            suggestions.append(draft_removal("Remove the Z-drug order", f"Remove {plain_text(draft.product.display)}",
                                             draft.resource_id))
        cbti = consultation_request(
            facts.evaluation.patient_id, "Cognitive behavioral therapy for insomnia (CBT-I)",
            reason="Insomnia during a benzodiazepine taper",
            clinical_summary="Benzodiazepine taper in progress; Z-drugs are not recommended. Please confirm you "
                             "can accept the patient for CBT-I.",
            authored_on=facts.evaluation.at.date().isoformat(),
        )
        suggestions.append(Suggestion("Refer for CBT-I", (
            Action(type="create", description="Request CBT for insomnia", resource=cbti),)))
        yield Finding(
            card_type=CARD_TYPE, indicator="warning",
            summary=f"{draft.product.ingredient.capitalize()} (a Z-drug) is not recommended during a benzodiazepine "
                    "taper: consider CBT-I instead",
            detail="\n".join([
                f"**Order:** {draft.label} — a Z-drug added during a benzodiazepine taper.",
                "",
                "**Guidance:** Z-drugs act on the same receptor as benzodiazepines and are not recommended during "
                "a taper (2025 Joint Guideline Table 11). For insomnia: CBT-I (rec. 10), sleep hygiene; if a drug "
                "is needed, consider options from Table 11 (e.g. melatonin, trazodone, low-dose doxepin). In "
                f"adults ≥ {OLDER_ADULT_AGE} Beers 2023 advises avoiding Z-drugs.",
            ]),
            order_id=draft.resource_id, source_url=SOURCE_URL, suggestions=tuple(suggestions),
        )

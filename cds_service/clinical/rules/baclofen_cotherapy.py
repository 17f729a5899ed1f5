"""Card ``baclofen-cotherapy`` (info): baclofen the patient already took before the taper began.

Baclofen labels (docs/clinical-reference.md §4d): "Hallucinations and seizures have occurred on abrupt withdrawal …
the dose should be reduced slowly"; intrathecal boxed warning — abrupt discontinuation can be fatal.
Seed guidance: adding a second withdrawal risk during a taper is dangerous. Trigger (§6b "Pre-existing
baclofen", §6c): baclofen coverage (any route) that began before the taper, while a benzodiazepine
step is proposed. Never suggests stopping baclofen.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import Declaration
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.profiles import OLDER_ADULT_AGE
from cds_service.clinical.taper_step import assess_step, is_older_adult
from cds_service.clinical.wording import plain_text

CARD_TYPE = "baclofen-cotherapy"
SOURCE_URL = "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=e05080ef-53d9-4060-aaa4-86a6935467de"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Baclofen co-therapy during a taper",
    indicators=("info",),
    rank=160,
    gates=(("baclofen in the record",
            lambda facts: any(c.product.drug_class == "baclofen" for c in facts.courses.existing)),),
)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    assessment = assess_step(facts)
    if assessment is None:
        return
    taper_start = facts.history.taper_start or facts.evaluation.at.date()
    today = facts.evaluation.at.date()
    baclofen = [c for c in facts.courses.existing if c.product.drug_class == "baclofen" and c.start is not None
                and c.start < taper_start and (c.covers(today) or c.end is None)]
    if not baclofen:
        return
    intrathecal = any(c.product.route == "intrathecal" for c in baclofen)
    lines = [
        f"**Order:** {assessment.draft.label} — benzodiazepine taper step while the patient takes baclofen "
        f"({', '.join(sorted({plain_text(c.product.display) for c in baclofen}))}) since before the taper.",
        "",
        "- Do not change baclofen and the benzodiazepine at the same time: withdrawal from either can cause "
        "seizures and hallucinations; change one drug at a time.",
        "- Never stop baclofen abruptly" + (" — intrathecal baclofen withdrawal can be fatal (boxed warning)."
                                           if intrathecal else "; reduce it slowly if it must be reduced."),
    ]
    if is_older_adult(facts):
        lines.append(f"- Age ≥ {OLDER_ADULT_AGE}: check eGFR — Beers 2023 advises avoiding baclofen when eGFR < 60.")
    yield Finding(
        card_type=CARD_TYPE, indicator="info",
        summary="On baclofen since before the taper: keep it steady; change one drug at a time",
        detail="\n".join(lines), order_id=assessment.draft.resource_id, source_url=SOURCE_URL,
    )

"""Card ``conversion-ambiguity`` (warning): a switch between benzodiazepines whose size depends on the table.

2025 Joint Guideline Table 7 note: "Conversion … is not straightforward … transition … over 1–2 weeks
rather than 1–2 days." Trigger (clinical.md §1b, §6c): the drafts change which benzodiazepines the
patient takes, the reductions under Ashton and VA/DoD differ by more than 15 points, and either exceeds
the profile's step limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.taper_plan import TABLE_NAMES
from cds_service.clinical.taper_step import assess_step, profile_of, step_facts
from cds_service.clinical.wording import percent

CARD_TYPE = "conversion-ambiguity"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/18"
DISAGREEMENT_POINTS = Fraction(15)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    assessment = assess_step(facts) if facts.history.is_switch else None
    if assessment is None or not assessment.is_switch:
        return
    ashton, va_dod = assessment.percent_by_table["ashton"], assessment.percent_by_table["va-dod"]
    if ashton is None or va_dod is None or abs(ashton - va_dod) <= DISAGREEMENT_POINTS:
        return
    limit = profile_of(facts).step_limit_percent
    if max(ashton, va_dod) <= limit:
        return
    history = facts.history
    detail = "\n".join([
        f"**Order:** {assessment.draft.label} — switches "
        f"{', '.join(sorted(history.current_ingredients))} to {', '.join(sorted(history.proposed_ingredients))} "
        "in one day.",
        "",
        "**Why this card:**",
        f"- Under the {TABLE_NAMES['ashton']} table this is a {percent(ashton)} reduction; under the "
        f"{TABLE_NAMES['va-dod']} table {percent(va_dod)}. The published equivalence tables disagree up to "
        "two-fold for alprazolam, clonazepam and lorazepam.",
        *step_facts(facts, assessment)[2:],
        "",
        "**Guidance:** Cross-taper over 1–2 weeks instead of a same-day switch: introduce the new drug in steps "
        "while reducing the old one, and reassess symptoms at each step (2025 Joint Guideline Table 7 note; "
        "rec. 7).",
    ])
    yield Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary="Same-day benzodiazepine switch: equivalence tables disagree; cross-taper over 1–2 weeks",
        detail=detail, order_id=assessment.draft.resource_id, source_url=SOURCE_URL,
    )

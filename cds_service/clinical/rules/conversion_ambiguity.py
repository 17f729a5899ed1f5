"""Card ``conversion-ambiguity`` (warning): a switch between benzodiazepines whose size depends on the table.

2025 Joint Guideline Table 7 note: "Conversion … is not straightforward … transition … over 1–2 weeks
rather than 1–2 days." Trigger (docs/clinical-reference.md §1b, §6c, §8c): the drafts change which
benzodiazepines the patient takes, the reductions under Ashton and VA/DoD differ by more than 15 points,
and either breaches a limit. It is then the one card for that order: it names the limit each table
breaches, and no rate or abrupt-stop card repeats it. Whether it fires never depends on the configured table.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from cds_service.clinical.declaration import A_STEP, Declaration
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.profiles import shared_thresholds
from cds_service.clinical.taper_plan import TABLE_NAMES
from cds_service.clinical.taper_step import (
    StepAssessment,
    assess_step,
    is_older_adult,
    profile_of,
    step_facts,
)
from cds_service.clinical.wording import percent

CARD_TYPE = "conversion-ambiguity"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/18"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Benzodiazepine conversion ambiguity",
    indicators=("warning",),
    rank=50,
    rate_card=True,
    gates=(A_STEP, ("a switch between benzodiazepines", lambda facts: facts.history.is_switch)),
    outranks=("abrupt-discontinuation", "taper-too-fast", "long-term-rate", "older-adult"),
)


def limits_breached(facts: ClinicalFacts, reduction: Fraction) -> list[str]:
    """The limits a reduction of ``reduction`` % of the total breaches now, in words."""
    profile = profile_of(facts)
    history = facts.history
    found = []
    if history.likely_dependent and reduction >= shared_thresholds().abrupt_reduction_percent:
        found.append("the abrupt-discontinuation threshold (half or more at once)")
    if reduction > profile.step_limit_percent:
        found.append(f"the {percent(profile.step_limit_percent)} step limit")
    if history.is_long_term and reduction > profile.long_term_max_percent:
        found.append(f"{percent(profile.long_term_max_percent)} per month after more than a year of use")
    if is_older_adult(facts) and reduction > profile.older_adult_max_step_percent:
        found.append(f"{percent(profile.older_adult_max_step_percent)} per step for an older adult")
    return found


def _ambiguous(facts: ClinicalFacts) -> StepAssessment | None:
    assessment = assess_step(facts)
    if assessment is None or not assessment.is_switch:
        return None
    ashton, va_dod = assessment.percent_by_table["ashton"], assessment.percent_by_table["va-dod"]
    if ashton is None or va_dod is None or abs(ashton - va_dod) <= shared_thresholds().table_disagreement_points:
        return None
    if not (limits_breached(facts, ashton) or limits_breached(facts, va_dod)):
        return None
    return assessment


def speaks_for(facts: ClinicalFacts) -> bool:
    """Whether this card is the one card about the step (the rate and abrupt-stop rules then stay silent)."""
    return facts.once(CARD_TYPE, lambda: _ambiguous(facts)) is not None


def _table_line(facts: ClinicalFacts, table: EquivalenceTable, reduction: Fraction) -> str:
    breached = limits_breached(facts, reduction)
    what = (f"an increase of {percent(-reduction)}" if reduction < 0 else
            "no change of the total" if reduction == 0 else f"a {percent(reduction)} reduction")
    verdict = "breaches " + "; ".join(breached) if breached else "is within every limit"
    return f"- Under the {TABLE_NAMES[table]} table this is {what}: it {verdict}."


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    assessment = facts.once(CARD_TYPE, lambda: _ambiguous(facts))
    if assessment is None:
        return
    ashton, va_dod = assessment.percent_by_table["ashton"], assessment.percent_by_table["va-dod"]
    assert ashton is not None and va_dod is not None
    history = facts.history
    added = sorted(history.proposed_ingredients - history.current_ingredients)
    changed = sorted(history.proposed_ingredients & history.current_ingredients)
    # a cross-taper keeps the old drug at a lower dose: "switches clonazepam to clonazepam, diazepam" misreads it
    what = (f"changes {', '.join(changed)}" if not added else
            f"starts {', '.join(added)} while changing {', '.join(changed)}" if changed else
            f"switches {', '.join(sorted(history.current_ingredients))} to {', '.join(added)}")
    detail = "\n".join([
        f"**Order:** {assessment.draft.label} — {what} in one day.",
        "",
        "**Why this card:**",
        _table_line(facts, "ashton", ashton),
        _table_line(facts, "va-dod", va_dod),
        "- The published equivalence tables disagree up to two-fold for alprazolam, clonazepam and lorazepam, so "
        "the size of this step is uncertain.",
        *step_facts(facts, assessment, with_tables=False),
        "",
        "**Guidance:** Cross-taper over 1–2 weeks instead of a same-day switch: introduce the new drug in steps "
        "while reducing the old one, and reassess symptoms at each step (2025 Joint Guideline Table 7 note; "
        "rec. 7).",
    ])
    yield Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary=f"Same-day switch {', '.join(sorted(history.current_ingredients))} → "
                f"{', '.join(sorted(history.proposed_ingredients - history.current_ingredients))}: equivalence "
                "tables disagree; cross-taper over 1–2 weeks",
        detail=detail, order_id=assessment.draft.resource_id, source_url=SOURCE_URL,
    )

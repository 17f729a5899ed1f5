"""Card ``abrupt-discontinuation`` (critical): a dependent patient's benzodiazepine stopped or halved at once.

Seed guidance, "Common Pitfalls to Avoid": "Never abruptly discontinue benzodiazepines—this can cause
seizures and death." 2025 Joint Guideline rec. 2 (L-S): "Avoid abruptly discontinuing BZD in patients
likely physically dependent" (Table 2).

Trigger (docs/clinical-reference.md §6b "Abrupt discontinuation"): likely physically dependent **and** (the drafts end
the last benzodiazepine, or the proposed total DE is ≤ 50 % of the current total in one step) **and not**
the final step (docs/clinical-reference.md §8d: ≤ 2 mg DE under either table, or the smallest dose
the product can give, after ≥ 2 reductions). Between drugs, a limit is breached when either table's
reduction breaches it (docs/clinical-reference.md §8c); the conversion-ambiguity card speaks when they differ by
more than 15 points (§11e).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import A_STEP, LIKELY_DEPENDENT, Declaration
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.profiles import shared_thresholds, taper_profile
from cds_service.clinical.rules import outranked
from cds_service.clinical.taper_step import (
    assess_step,
    is_final_step,
    judged_by_phase,
    plan_links,
    step_facts,
    step_suggestions,
)
from cds_service.clinical.wording import percent

CARD_TYPE = "abrupt-discontinuation"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/5"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Abrupt benzodiazepine discontinuation",
    indicators=("critical",),
    rank=10,
    rate_card=True,
    gates=(A_STEP, LIKELY_DEPENDENT),
    outranks=("taper-too-fast",),
)


def speaks_for(facts: ClinicalFacts) -> bool:
    """Whether the step is abrupt: this critical card is then the one card about it (the too-fast warning stays
    silent)."""
    assessment = assess_step(facts)
    history = facts.history
    if assessment is None or not history.likely_dependent or is_final_step(facts) \
            or outranked(CARD_TYPE, facts):
        return False
    return assessment.is_stop or assessment.percent >= shared_thresholds().abrupt_reduction_percent


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    """The step at t and each later phase of a multi-phase draft, judged at its own start (§7c)."""
    return judged_by_phase(facts, _judge)


def _judge(facts: ClinicalFacts) -> Iterator[Finding]:
    assessment = assess_step(facts)
    if assessment is None or not speaks_for(facts):
        return
    history = facts.history
    summary_profile = taper_profile("summary")
    what = "stops" if assessment.is_stop else f"cuts by {percent(assessment.percent)}"
    detail = "\n".join([
        f"**Order:** {assessment.draft.label} — {what} the benzodiazepine of a patient likely to be "
        "physically dependent.",
        "",
        "**Why this card:**",
        *step_facts(facts, assessment),
        f"- Likely physically dependent (2025 Joint Guideline Table 2): {history.episode_days} days of use.",
        "",
        "**Guidance:** Never abruptly discontinue benzodiazepines — this can cause seizures and death. Taper "
        f"instead: reduce by {summary_profile.advised_steps} of the *current* dose every "
        f"{summary_profile.advised_interval} ({percent(summary_profile.long_term_max_percent)} per month after more "
        "than a year of use); pauses are acceptable. The 2025 Joint Guideline advises avoiding abrupt discontinuation "
        "in patients likely to be physically dependent (rec. 2).",
    ])
    drug = assessment.draft.product.ingredient
    summary = (f"Stopping {drug} at once in a dependent patient risks withdrawal seizures: taper instead"
               if assessment.is_stop else
               f"{drug.capitalize()} cut by {percent(assessment.percent)} at once risks withdrawal seizures: "
               "use a smaller step")
    yield Finding(
        card_type=CARD_TYPE, indicator="critical", summary=summary, detail=detail,
        order_id=assessment.draft.resource_id, source_url=SOURCE_URL,
        suggestions=step_suggestions(facts, assessment), links=plan_links(facts, assessment.draft),
    )

"""Card ``taper-too-fast`` (warning): a taper step larger or sooner than the profile allows.

Seed guidance: "Reduce diazepam by 10-25% of the current dose (not the original dose) every 1-2 weeks."
2025 Joint Guideline rec. 6: "Initial pace: dose reductions of 5–10 %; pace should typically not exceed
25 % every 2 weeks."

Trigger (docs/clinical-reference.md §6b "Too-fast step", §8b): profile ``summary`` — step > 25 % of the current total
DE, or any reduction < 7 days after the previous change; profile ``joint-2025`` — > 25 % within the
trailing 14 days, or a first reduction of the episode > 10 %. Not shown when the step is abrupt (the
critical card covers it), nor for a patient not likely to be physically dependent (2025 Joint Guideline
Table 2; docs/clinical-reference.md §7f).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import A_STEP, Declaration
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.rules import outranked
from cds_service.clinical.taper_step import (
    StepAssessment,
    assess_step,
    is_final_stop,
    judged_by_phase,
    plan_links,
    profile_of,
    step_facts,
    step_suggestions,
)
from cds_service.clinical.wording import percent

CARD_TYPE = "taper-too-fast"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/7"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Taper step too fast",
    indicators=("warning",),
    rank=30,
    rate_card=True,
    gates=(A_STEP,),
)


def breaches(facts: ClinicalFacts, assessment: StepAssessment) -> list[str]:
    """The limits of the profile this step breaks, in words."""
    profile = profile_of(facts)
    history = facts.history
    found: list[str] = []
    # The last step of a taper (docs/clinical-reference.md §8d) is necessarily 100 %: only its timing counts.
    final = is_final_stop(facts, assessment)
    if not final and profile.max_step_percent is not None and assessment.percent > profile.max_step_percent:
        found.append(f"step of {percent(assessment.percent)} exceeds {percent(profile.max_step_percent)} "
                     "of the current dose")
    interval = history.interval_days
    if interval is not None and interval < profile.min_interval_days:
        found.append(f"only {interval} days after the previous change (at least {profile.min_interval_days})")
    if not final and profile.window_days is not None and profile.max_window_percent is not None:
        window = history.window_reduction_percent(profile.window_days)
        if window is not None and not assessment.is_switch and window > profile.max_window_percent:
            found.append(f"{percent(window)} within {profile.window_days} days exceeds "
                         f"{percent(profile.max_window_percent)}")
    first = not any(step.is_reduction for step in history.steps)
    if profile.max_initial_step_percent is not None and first and assessment.percent > profile.max_initial_step_percent:
        found.append(f"first step of {percent(assessment.percent)} exceeds the initial "
                     f"{percent(profile.max_initial_step_percent)}")
    return found


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    """The step at t and each later phase of a multi-phase draft, judged at its own start (§7c)."""
    return judged_by_phase(facts, _judge)


def _judge(facts: ClinicalFacts) -> Iterator[Finding]:
    assessment = assess_step(facts)
    # a patient not likely to be physically dependent may stop or cut without a taper (§7f)
    if assessment is None or not facts.history.likely_dependent or outranked(CARD_TYPE, facts):
        return
    found = breaches(facts, assessment)
    if not found:
        return
    profile = profile_of(facts)
    detail = "\n".join([
        f"**Order:** {assessment.draft.label} — this taper step is faster than the {profile.name} allows: "
        + "; ".join(found) + ".",
        "",
        "**Why this card:**",
        *step_facts(facts, assessment),
        "",
        f"**Guidance (the {profile.name}):** {profile.source}. The taper rate follows the patient's tolerance, not "
        "a fixed schedule; pauses are acceptable when withdrawal symptoms emerge.",
    ])
    yield Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary=f"{assessment.draft.product.ingredient.capitalize()} taper step too fast: reduce by a smaller step "
                "or wait longer",
        detail=detail, order_id=assessment.draft.resource_id, source_url=SOURCE_URL,
        suggestions=step_suggestions(facts, assessment), links=plan_links(facts, assessment.draft),
    )

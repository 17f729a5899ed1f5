"""Card ``long-term-rate`` (warning): more than 10 % per month for a patient on benzodiazepines > 1 year.

Seed guidance: "For patients on benzodiazepines longer than 1 year, extend the taper to 10% per month."
Trigger (docs/clinical-reference.md §6b "Long-term use", "Too-fast step"; §8b): long-term use and a total reduction
within the trailing 30 days of more than 10 %. A long-term user's first 25 % step breaks it (§8b).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import A_STEP, Declaration
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.history import LONG_TERM_DAYS
from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.rules import outranked
from cds_service.clinical.taper_step import (
    assess_step,
    is_final_stop,
    judged_by_phase,
    plan_links,
    profile_of,
    step_facts,
    step_suggestions,
)
from cds_service.clinical.wording import percent

CARD_TYPE = "long-term-rate"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/28"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Long-term user: slow taper",
    indicators=("warning",),
    rank=40,
    rate_card=True,
    gates=(A_STEP, ("use for more than a year", lambda facts: facts.history.is_long_term)),
)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    """The step at t and each later phase of a multi-phase draft, judged at its own start (§7c)."""
    return judged_by_phase(facts, _judge)


def _judge(facts: ClinicalFacts) -> Iterator[Finding]:
    assessment = assess_step(facts)
    history = facts.history
    if assessment is None or not history.is_long_term or not history.likely_dependent \
            or is_final_stop(facts, assessment) or outranked(CARD_TYPE, facts):
        return
    profile = profile_of(facts)
    summary_profile, joint = taper_profile("summary"), taper_profile("joint-2025")
    window = history.window_reduction_percent(profile.long_term_window_days)
    judged = assessment.percent if assessment.is_switch else window
    if judged is None or judged <= profile.long_term_max_percent:
        return
    detail = "\n".join([
        f"**Order:** {assessment.draft.label} — {percent(judged)} within {profile.long_term_window_days} days for "
        f"a patient on benzodiazepines for more than a year (limit {percent(profile.long_term_max_percent)} "
        "per month).",
        "",
        "**Why this card:**",
        *step_facts(facts, assessment),
        f"- Covered on {history.covered_days_last_year} of the last {LONG_TERM_DAYS} days.",
        "",
        "**Guidance:** For patients on benzodiazepines longer than 1 year, extend the taper to "
        f"{percent(summary_profile.long_term_max_percent)} per month (the {summary_profile.name}). The "
        f"{joint.name} suggests an initial pace of {joint.advised_steps} every {joint.advised_interval} and "
        "scales withdrawal risk with duration of use (Table 2).",
    ])
    yield Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary=f"{assessment.draft.product.ingredient.capitalize()}: long-term benzodiazepine user — taper by at "
                f"most {percent(profile.long_term_max_percent)} per month",
        detail=detail, order_id=assessment.draft.resource_id, source_url=SOURCE_URL,
        suggestions=step_suggestions(facts, assessment), links=plan_links(facts, assessment.draft),
    )

"""Card ``older-adult`` (info, or warning when the slower profile is breached).

Seed guidance: "Elderly patients require more gradual tapers with smaller dose reductions due to
increased risks of cognitive impairment, falls, and fractures." 2025 Joint Guideline rec. 27: generally
taper benzodiazepines in adults ≥ 65. Trigger (docs/clinical-reference.md §6b "Older adult", §8e):
age ≥ 65 on the order date in a taper context; warning when the step is > 10 % or < 14 days after the
previous change. Without a birth date no age-based card is shown (docs/clinical-reference.md §7k).
A benzodiazepine added on top of another that stays (docs/clinical-reference.md §11g) is an increase the
warning applies to as well, in or outside a taper (Beers 2023: avoid benzodiazepines in older adults).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import AN_OLDER_ADULT, Declaration
from cds_service.clinical.duplication import duplications
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.profiles import OLDER_ADULT_AGE
from cds_service.clinical.rules import outranked
from cds_service.clinical.taper_step import (
    TABLE_NAMES,
    assess_step,
    benzodiazepine_draft,
    is_final_stop,
    is_older_adult,
    judged_by_phase,
    plan_links,
    profile_of,
    step_facts,
    step_suggestions,
)
from cds_service.clinical.wording import mg, percent

CARD_TYPE = "older-adult"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/11"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Older adult taper",
    indicators=("info", "warning"),
    rank=80,
    gates=(AN_OLDER_ADULT,),
)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    """The step at t and each later phase of a multi-phase draft, judged at its own start (§7c)."""
    return judged_by_phase(facts, _judge)


def _judge(facts: ClinicalFacts) -> Iterator[Finding]:
    if is_older_adult(facts) and duplications(facts):
        yield from _added_on_top(facts)
        return
    draft = benzodiazepine_draft(facts)
    if draft is None or not is_older_adult(facts) or not facts.history.in_taper_context:
        return
    profile = profile_of(facts)
    assessment = assess_step(facts)
    breaches = []
    # §7f: no rate limit without dependence; §8c: a card that outranks this one (the conversion-ambiguity card of
    # a switch) speaks for the step's pace
    if assessment is not None and facts.history.likely_dependent and not outranked(CARD_TYPE, facts):
        # The last step of a taper (docs/clinical-reference.md §8d) is necessarily 100 %: keeping the dose, the only
        # smaller step, would never end it. Only its timing counts, as for the rate cards.
        final = is_final_stop(facts, assessment)
        if not final and assessment.percent > profile.older_adult_max_step_percent:
            breaches.append(f"step of {percent(assessment.percent)} (more than "
                            f"{percent(profile.older_adult_max_step_percent)})")
        interval = facts.history.interval_days
        if interval is not None and interval < profile.older_adult_min_interval_days:
            breaches.append(f"{interval} days after the previous change (less than "
                            f"{profile.older_adult_min_interval_days})")
    age = facts.patient.age_on(facts.evaluation.at.date())
    lines = [f"**Order:** {draft.label} — benzodiazepine taper in a patient aged {age}."]
    if breaches:
        lines.append("The step is faster than the slower pace used for older adults: " + "; ".join(breaches) + ".")
    if assessment is not None:
        lines += ["", "**Why this card:**", *step_facts(facts, assessment)]
    step, days = percent(profile.older_adult_max_step_percent), profile.older_adult_min_interval_days
    lines += ["", "**Guidance:** Older adults need more gradual tapers with smaller reductions (risk of cognitive "
              "impairment, falls and fractures); the 2025 Joint Guideline recommends generally tapering "
              f"benzodiazepines in adults {OLDER_ADULT_AGE} and older (rec. 27). This service uses steps of at most "
              f"{step} and at least {days} days apart for them."]
    yield Finding(
        card_type=CARD_TYPE, indicator="warning" if breaches else "info",
        summary=(f"Older adult tapering {draft.product.ingredient}: use smaller, slower steps (≤ {step}, ≥ {days} "
                 "days apart)" if breaches else
                 f"Older adult tapering {draft.product.ingredient}: go gradually; watch for falls and confusion"),
        detail="\n".join(lines), order_id=draft.resource_id, source_url=SOURCE_URL,
        suggestions=step_suggestions(facts, assessment) if breaches and assessment is not None else (),
        links=plan_links(facts, draft), carries_shared_suggestions=bool(breaches),
    )


def _added_on_top(facts: ClinicalFacts) -> Iterator[Finding]:
    """The increase a second benzodiazepine makes, for a patient 65 or older (§11g): a warning without its own
    suggestion — the duplication card carries the removal."""
    age = facts.patient.age_on(facts.evaluation.at.date())
    before, after = facts.history.current_de, facts.history.proposed_de
    table = TABLE_NAMES[facts.table]
    for duplication in duplications(facts):
        draft = duplication.added
        drug = draft.product.ingredient
        yield Finding(
            card_type=CARD_TYPE, indicator="warning",
            summary=f"Older adult: adding {drug} to another benzodiazepine raises the total; avoid (Beers 2023)",
            detail="\n".join([
                f"**Order:** {draft.label} — a second benzodiazepine for a patient aged {age}.",
                "",
                "**Why this card:**",
                f"- The total rises from {mg(before)} to {mg(after)} diazepam-equivalent/day ({table} table; both "
                "tables on the duplication card)." if before is not None and after is not None else
                "- The total rises (see the duplication card).",
                "",
                f"**Guidance:** Beers 2023 advises avoiding benzodiazepines in adults {OLDER_ADULT_AGE} and older "
                "(cognitive impairment, delirium, falls, fractures); any increase adds to that risk. Older adults "
                "need more gradual tapers with smaller reductions; the 2025 Joint Guideline recommends generally "
                f"tapering benzodiazepines in adults {OLDER_ADULT_AGE} and older (rec. 27).",
            ]),
            order_id=draft.resource_id, source_url=SOURCE_URL,
        )

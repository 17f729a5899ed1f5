"""Card ``taper-support`` (info): what to do around a taper step.

Seed guidance: "Follow up at least monthly during the taper"; "Monitor for withdrawal symptoms: anxiety,
tremor, insomnia, sweating, tachycardia, headache, weakness, muscle aches, nausea, confusion, and
seizures"; CBT, sleep hygiene, mindfulness, relaxation, exercise, education; "pauses are acceptable";
"Do not use a fixed timeline". 2025 Joint Guideline rec. 9–11 and the algorithm (/28).

Trigger (docs/clinical-reference.md §6c): the first reduction of an exposure episode; also a dose *increase* during a
taper (symptoms: pausing or slowing is first-line, §6d scenario 10). For a patient not likely to be
physically dependent it is the only card about the step, and says that rebound symptoms may occur (§9.5).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.taper_step import benzodiazepine_draft, plan_links
from cds_service.clinical.wording import mg, number

CARD_TYPE = "taper-support"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/28"
SYMPTOMS = ("anxiety, tremor, insomnia, sweating, tachycardia, headache, weakness, muscle aches, nausea, "
            "confusion and seizures")


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    history = facts.history
    step = history.proposed_step
    draft = benzodiazepine_draft(facts)
    if step is None or draft is None or not step.previous_de:
        return
    first_reduction = step.is_reduction and not any(s.is_reduction for s in history.steps)
    increase_in_taper = not step.is_reduction and history.recent_reduction is not None
    if not (first_reduction or increase_in_taper):
        return
    opening = (f"**Order:** {draft.label} — the first reduction of this taper "
               f"({mg(step.previous_de)} → {mg(step.new_de)} diazepam-equivalent/day)." if first_reduction else
               f"**Order:** {draft.label} — a dose increase during a taper ({mg(step.previous_de)} → "
               f"{mg(step.new_de)} diazepam-equivalent/day): pausing or slowing is the first response to "
               "withdrawal symptoms; reassess, then resume more slowly.")
    rebound = [] if history.likely_dependent or not step.is_reduction else [
        "- Not likely physically dependent (2025 Joint Guideline Table 2: "
        + (f"as-needed use on about {number(history.as_needed_days_per_week, 1)} days a week"
           if history.as_needed_days_per_week is not None else f"{history.episode_days} days of use")
        + "): this change needs no taper; rebound insomnia or anxiety may occur for a few days."]
    yield Finding(
        card_type=CARD_TYPE, indicator="info",
        summary=(f"{draft.product.ingredient.capitalize()} taper: follow up at least monthly; pauses are fine; no "
                 "fixed timeline" if first_reduction else
                 f"{draft.product.ingredient.capitalize()} dose increase during a taper: reassess symptoms, then "
                 "resume more slowly"),
        detail="\n".join([
            opening,
            "",
            *rebound,
            "- Follow up at least monthly, more often in difficult phases; check for symptoms with each reduction.",
            f"- Withdrawal symptoms to ask about: {SYMPTOMS}.",
            "- Screen for depression, anxiety and substance use disorders that may emerge.",
            "- Non-drug support: CBT during the taper, sleep hygiene, mindfulness, relaxation, exercise; explain "
            "the risks of benzodiazepines and the benefits of tapering.",
            "- Pauses at a stable dose are acceptable; there is no fixed timeline — adjust to the patient's "
            "response. Never abandon the patient if the taper is hard.",
        ]),
        order_id=draft.resource_id, source_url=SOURCE_URL, yields_to_warnings=True, links=plan_links(facts, draft),
    )

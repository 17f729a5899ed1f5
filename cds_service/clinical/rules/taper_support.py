"""Card ``taper-support`` (info): what to do around a taper step.

Seed guidance: "Follow up at least monthly during the taper"; "Monitor for withdrawal symptoms: anxiety,
tremor, insomnia, sweating, tachycardia, headache, weakness, muscle aches, nausea, confusion, and
seizures"; CBT, sleep hygiene, mindfulness, relaxation, exercise, education; "pauses are acceptable";
"Do not use a fixed timeline". 2025 Joint Guideline rec. 9–11 and the algorithm (/28).

Trigger (docs/clinical-reference.md §6c, §8d, §11q): every reduction of the benzodiazepine total — the first
reduction of an exposure episode, the final step (a stop at the end of a taper), and any later reduction — and a
dose *increase* during a taper (symptoms: pausing or slowing is first-line, §6d #10). A later reduction
that is neither the first nor the final step is shown only when it is the only card of the call, so that a
routine step still answers that it was checked. For a patient not likely to be physically dependent it is the
only card about the step, and says that rebound symptoms may occur (§7f).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import Declaration
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.history import counts_toward_taper
from cds_service.clinical.taper_plan import FINAL_DOSE_DE
from cds_service.clinical.taper_step import (
    TABLE_NAMES,
    benzodiazepine_draft,
    current_daily_mg,
    is_final_step,
    plan_links,
)
from cds_service.clinical.wording import change, mg, number

CARD_TYPE = "taper-support"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/28"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Taper support",
    indicators=("info",),
    rank=170,
)
SYMPTOMS = ("anxiety, tremor, insomnia, sweating, tachycardia, headache, weakness, muscle aches, nausea, "
            "confusion and seizures")


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    history = facts.history
    step = history.proposed_step
    step_draft = benzodiazepine_draft(facts)
    # the card names the drug being tapered — in a cross-taper the drug reduced, not the one started — and, like
    # the rate cards, concerns the step's draft (it gives way to their warnings)
    draft = next((d for d in facts.evaluated_drafts if counts_toward_taper(d)
                  and d.product.ingredient in history.current_ingredients), None) or step_draft
    if step is None or draft is None or step_draft is None or not step.previous_de:
        return
    reductions = sum(1 for s in history.steps if s.is_reduction)
    if not step.is_reduction and history.recent_reduction is None:
        return  # an increase outside a taper: not a taper step
    final = step.is_reduction and step.new_de == 0 and is_final_step(facts)
    drug = draft.product.ingredient
    dose = f"{mg(step.previous_de)} → {mg(step.new_de)} diazepam-equivalent/day"
    if not step.is_reduction:
        opening = (f"**Order:** {draft.label} — a dose increase during a taper ({dose}): pausing or slowing is the "
                   "first response to withdrawal symptoms; reassess, then resume more slowly.")
        summary = f"{drug.capitalize()} dose increase during a taper: reassess symptoms, then resume more slowly"
    elif not history.likely_dependent:
        # no taper is needed (§7f): the card is about rebound symptoms, not a taper's pace
        what = "stops" if step.new_de == 0 else "reduces"
        opening = f"**Order:** {draft.label} — {what} {drug} ({dose})."
        summary = (f"{drug.capitalize()} {'stopped' if step.new_de == 0 else 'reduced'}: not likely dependent, no "
                   "taper needed; rebound symptoms may occur")
    elif final:
        own = current_daily_mg(facts, draft)
        stopped = f"{drug} {mg(own)}/day → stopped" if own is not None else f"{drug} stopped"
        opening = (f"**Order:** {draft.label} — the final step of this taper: {stopped} ({mg(step.previous_de)} "
                   f"diazepam-equivalent/day → 0), after {reductions} reductions"
                   + (f" since {history.taper_start.isoformat()}" if history.taper_start is not None else "")
                   + f". {_why_final(facts)}")
        summary = f"{drug.capitalize()} taper, final step: follow up in the weeks after the last dose"
    elif reductions == 0:
        opening = f"**Order:** {draft.label} — the first reduction of this taper ({dose})."
        summary = f"{drug.capitalize()} taper: follow up at least monthly; pauses are fine; no fixed timeline"
    else:
        opening = (f"**Order:** {draft.label} — reduction {reductions + 1} of this taper ({dose}; "
                   f"{change(step.percent_reduction)}).")
        summary = f"{drug.capitalize()} taper step: follow up at least monthly; pauses are fine; no fixed timeline"
    rebound = [] if history.likely_dependent or not step.is_reduction else [
        "- Not likely physically dependent (2025 Joint Guideline Table 2: "
        + (f"as-needed use on about {number(history.as_needed_days_per_week, 1)} days a week"
           if history.as_needed_days_per_week is not None else f"{history.episode_days} days of use")
        + "): this change needs no taper; rebound insomnia or anxiety may occur for a few days."]
    follow_up = ([f"- Withdrawal or rebound symptoms to ask about: {SYMPTOMS}."] if rebound else [
        "- Follow up in the weeks after the last dose: withdrawal symptoms can still appear or return; "
        f"ask about {SYMPTOMS}.",
        "- If symptoms are hard to bear, resuming the last dose for a while and stopping later is acceptable: "
        "there is no fixed timeline. Never abandon the patient if the taper is hard.",
    ] if final else [
        "- Follow up at least monthly, more often in difficult phases; check for symptoms with each reduction.",
        f"- Withdrawal symptoms to ask about: {SYMPTOMS}.",
    ])
    yield Finding(
        card_type=CARD_TYPE, indicator="info", summary=summary,
        detail="\n".join([
            opening,
            "",
            *rebound,
            *follow_up,
            "- Screen for depression, anxiety and substance use disorders that may emerge.",
            "- Non-drug support: CBT during the taper, sleep hygiene, mindfulness, relaxation, exercise; explain "
            "the risks of benzodiazepines and the benefits of tapering.",
            *([] if final or rebound else [
                "- Pauses at a stable dose are acceptable; there is no fixed timeline — adjust to the patient's "
                "response. Never abandon the patient if the taper is hard."]),
        ]),
        order_id=step_draft.resource_id, source_url=SOURCE_URL, yields_to_warnings=True, links=plan_links(facts, draft),
        only_card=step.is_reduction and reductions > 0 and not final and not rebound,
    )


def _why_final(facts: ClinicalFacts) -> str:
    """Which §8d condition makes this stop the final step: a total of at most 2 mg diazepam-equivalent under a
    table, else the smallest dose the patient's product can give."""
    for table in TABLE_NAMES:
        total = facts.history_under(table).current_de
        if total is not None and total <= FINAL_DOSE_DE:
            return (f"A stop from at most {mg(FINAL_DOSE_DE)} diazepam-equivalent/day ({mg(total)} under the "
                    f"{TABLE_NAMES[table]} table) after at least two reductions is the end of a taper, not an abrupt "
                    "stop.")
    return ("The last dose is the smallest the patient's product can give (half the smallest scored tablet, or one "
            "smallest capsule): after at least two reductions, stopping it is the end of a taper, not an abrupt stop.")

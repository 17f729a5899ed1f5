"""Card ``dose-unreadable`` (warning): a dependent patient's benzodiazepine step that cannot be checked.

docs/clinical-reference.md §7b: unreadable doses are never silent. When a benzodiazepine draft's new
daily dose still cannot be read — no amount or frequency in the structured dosage, none in the sig text,
and no quantity with a days supply — or the patient's current dose cannot be read, for a patient likely to
be physically dependent (2025 Joint Guideline Table 2), the step cannot be judged against any limit: the
card says so, names the order and what is missing, instead of answering nothing. A stop of a dose that cannot
be read gets it too, saying that stopping at once is abrupt whatever the dose.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import A_BENZODIAZEPINE_DRAFT, LIKELY_DEPENDENT, Declaration
from cds_service.clinical.dosing import UnknownDose
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.history import counts_toward_taper
from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.taper_step import TABLE_NAMES
from cds_service.clinical.wording import mg, percent

CARD_TYPE = "dose-unreadable"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/7"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Benzodiazepine dose could not be read",
    indicators=("warning",),
    rank=60,
    gates=(A_BENZODIAZEPINE_DRAFT, LIKELY_DEPENDENT),
)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    history = facts.history
    if not history.likely_dependent:
        return
    summary_profile = taper_profile("summary")
    for draft in facts.evaluated_drafts:
        if not counts_toward_taper(draft) or (draft.ends_order and history.current_de is not None):
            continue
        unreadable_draft = isinstance(draft.dose, UnknownDose) and not draft.ends_order
        if not unreadable_draft and history.current_de is not None and history.proposed_de is not None:
            continue
        missing = [f"this order: {draft.dose.reason}"] if unreadable_draft and isinstance(draft.dose, UnknownDose) \
            else []
        missing += [note for note in history.unknown_doses if not note.startswith(f"{draft.label} (new order):")]
        current = (f"- Current total: {mg(history.current_de)} diazepam-equivalent/day "
                   f"({TABLE_NAMES[facts.table]} table)." if history.current_de is not None
                   else "- Current total: unknown (a current dose could not be read).")
        what = "the new daily dose" if unreadable_draft else "the current daily dose"
        stop = ["- This order stops it: for a patient likely to be physically dependent that is an abrupt "
                "discontinuation whatever the dose — taper instead."] if draft.ends_order else []
        yield Finding(
            card_type=CARD_TYPE, indicator="warning",
            summary=f"{draft.product.ingredient.capitalize()} dose could not be read: this taper step was not "
                    "checked",
            detail="\n".join([
                f"**Order:** {draft.label} — {what} could not be read, so this step was not checked against "
                "the taper limits.",
                "",
                "**What is missing:**",
                *(f"- {item}." for item in missing),
                "",
                "**Why this card:**",
                current,
                *stop,
                f"- Likely physically dependent (2025 Joint Guideline Table 2): {history.episode_days} days of use.",
                "",
                "**What to do:** state the dose with its unit and how often it is taken (for example \"5 mg "
                "twice daily\"), or the quantity with the days supply, and sign again so that the step can be "
                f"checked: reduce by {summary_profile.advised_steps} of the current dose every "
                f"{summary_profile.advised_interval} ({percent(summary_profile.long_term_max_percent)} per month "
                f"after more than a year of use); never stop abruptly (the {summary_profile.name}; 2025 Joint "
                "Guideline rec. 2 and 6).",
            ]),
            order_id=draft.resource_id, source_url=SOURCE_URL,
        )

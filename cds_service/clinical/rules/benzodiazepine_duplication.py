"""Card ``benzodiazepine-duplication`` (warning): a benzodiazepine started while another stays active and unchanged.

docs/clinical-reference.md §11g: a draft that starts a benzodiazepine while another benzodiazepine stays active
and unchanged in the same call raises the patient's total. It is not a cross-taper (the other is reduced or stopped
in the same call: the rate rules judge that step, §8c) and not an as-needed order of the same ingredient from
another prescriber (§7a: both count, and that is intended). A switch left half-done — the new drug ordered, the
old one never reduced, as a client that applies only one action of a suggestion leaves it — is the common case.
2025 Joint Guideline rec. 7 (Table 7 note): a switch is a cross-taper over 1–2 weeks, the old drug reduced as the
new one is started; the seed guidance and Beers 2023 (older adults: avoid benzodiazepines) for 65 and older.

The card names both drugs and the total diazepam-equivalent before and after under both tables (§1b). Fix: remove
the added order; or, to switch, reduce the other benzodiazepine in the same call as the first stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from cds_service.clinical.declaration import A_BENZODIAZEPINE_DRAFT, Declaration
from cds_service.clinical.dosing import DailyDose, percent_reduction
from cds_service.clinical.duplication import as_needed, duplications
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding, Suggestion, draft_removal
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.taper_step import SWITCH_NOT_OFFERED, TABLE_NAMES, is_older_adult, switch_first_stage
from cds_service.clinical.wording import change, mg, plain_text

CARD_TYPE = "benzodiazepine-duplication"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/18"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="A second benzodiazepine added",
    indicators=("warning",),
    rank=70,
    gates=(A_BENZODIAZEPINE_DRAFT,
           ("another benzodiazepine taken now", lambda facts: bool(facts.history.current_ingredients))),
)


def _own_dose(course: MedicationCourse) -> str:
    if isinstance(course.dose, DailyDose):
        return f"{course.product.ingredient} {mg(course.dose.mg)}/day"
    return course.product.ingredient


def _total(value: Fraction | None) -> str:
    return mg(value) if value is not None else "unknown"


def totals_line(facts: ClinicalFacts) -> str:
    """Before → after under both tables (§1b), with each table's change; a table without a factor says so."""
    parts = []
    for table, name in TABLE_NAMES.items():
        history = facts.history_under(table)
        before, after = history.current_de, history.proposed_de
        if facts.missing_factors(table):
            parts.append(f"{name} table: no equivalence factor for {', '.join(facts.missing_factors(table))}")
            continue
        rate = f" ({change(percent_reduction(before, after))})" if before and after is not None else ""
        parts.append(f"{_total(before)} → {_total(after)} diazepam-equivalent/day under the {name} table{rate}")
    return "- Total benzodiazepine dose: " + "; ".join(parts) + "."


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    for duplication in duplications(facts):
        draft = duplication.added
        drug = draft.product.ingredient
        others = " and ".join(dict.fromkeys(c.product.ingredient for c in duplication.others))
        after = facts.history.proposed_de
        before = facts.history.current_de
        table = TABLE_NAMES[facts.table]
        total = (f": total {_total(before).removesuffix(' mg')} → {_total(after)} diazepam-equivalent/day ({table})"
                 if before is not None and after is not None else "")
        same = all(c.product.ingredient == drug for c in duplication.others)
        summary = (f"Second {drug} order beside one that stays{total}" if same else
                   f"{drug.capitalize()} added while {others} continues unchanged{total}")
        kept = "; ".join(f"{plain_text(c.product.display)} ({_own_dose(c)}, {_kind(c)})" for c in duplication.others)
        lines = [
            (f"**Order:** {draft.label} — a second scheduled {drug} order while {kept} stays active and unchanged "
             "in this call (a different prescriber's order, not named as replaced): both count, and the total "
             "rises." if same else
             f"**Order:** {draft.label} — starts {drug} while {kept} stays active and unchanged in this call: two "
             "benzodiazepines at once raise the total."),
            "",
            "**Why this card:**",
            totals_line(facts),
            f"- Added: {_own_dose(draft)}{' (as needed)' if as_needed(draft) else ''}.",
        ]
        age = facts.patient.age_on(facts.evaluation.at.date())
        if is_older_adult(facts):
            lines.append(f"- Age {age}: Beers 2023 advises avoiding benzodiazepines in older adults (falls, "
                         "fractures, cognitive impairment); the older-adult card applies to this increase.")
        lines += [
            "",
            ("**What to do:** agree on one prescriber and one order of the drug; to change the dose, change the "
             "existing order (name it as the order replaced) so that the step is checked. If the added order was "
             "not intended, remove it." if same else
             f"**What to do:** remove the added {drug} order and taper {others} itself. {SWITCH_NOT_OFFERED}"
             if drug == "diazepam" and is_older_adult(facts) else
             "**What to do:** if the new drug is meant to replace the other, switch as a cross-taper over 1–2 weeks "
             f"(2025 Joint Guideline rec. 7): in the same call, reduce {others} as the first stage while {drug} is "
             "started, then stop it at a later stage; sign the orders together so that the step is checked. If "
             "the added order was not intended, remove it."),
        ]
        removal = draft_removal(f"Remove the added {drug} order",
                                f"Remove {plain_text(draft.product.display)}; {others} continues unchanged",
                                draft.resource_id) if draft.resource_id else None
        suggestions: tuple[Suggestion, ...] = (removal,) if removal is not None else ()
        if not same and len(duplication.others) == 1:
            switch = switch_first_stage(facts, draft, duplication.others[0])
            suggestions += (switch,) if switch is not None else ()
        yield Finding(
            card_type=CARD_TYPE, indicator="warning", summary=summary, detail="\n".join(lines),
            order_id=draft.resource_id, source_url=SOURCE_URL, suggestions=suggestions,
        )


def _kind(course: MedicationCourse) -> str:
    return {"order": "active order", "dispense": "dispensed", "statement": "reported taken"}.get(course.kind,
                                                                                                 course.kind)

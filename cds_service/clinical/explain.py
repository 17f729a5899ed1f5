"""Why each rule spoke or stayed silent, in words (``bzd-taper-cds evaluate --explain``).

Kept simple and true: the facts the rules share (dates, totals, dependence, age, problems found), then per
rule either its finding with the facts its card names, or — when silent — the first *necessary* condition
the record does not meet, if the rule has an obvious one (a draft of its drug, a benzodiazepine step), else
what the rule looks for, to be compared with the facts above; a rule silent because another card outranks it on the
step (the precedence policy) says so. It never re-decides a rule. The gates are the rules' own (each rule module's
``DECLARATION.gates``).
"""

from __future__ import annotations

import sys
from fractions import Fraction

from cds_service.clinical.engine import EngineResult
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.rules import PRECEDENCE, RULE_BY_TYPE, RULES, Rule
from cds_service.clinical.taper_step import TABLE_NAMES
from cds_service.clinical.wording import mg


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def facts_lines(facts: ClinicalFacts) -> list[str]:
    evaluation = facts.evaluation
    history = facts.history
    settings = evaluation.settings
    lines = [f"Evaluated at {evaluation.at.date().isoformat()} with profile {settings.profile} and the "
             f"{TABLE_NAMES[settings.equivalence_table]} table."]
    drafts = facts.evaluated_drafts
    lines.append("Orders evaluated: " + ("; ".join(f"{d.label} [{d.product.drug_class}]" for d in drafts)
                                          if drafts else "none"))
    if history.current_de is not None or history.proposed_de is not None:
        lines.append(f"Benzodiazepines: {_de(history.current_de)} diazepam-equivalent/day now, "
                     f"{_de(history.proposed_de)} after these orders.")
    last = history.last_change
    if last is not None:
        lines.append(f"Previous change of the total: {last.day.isoformat()} ({history.interval_days} days before).")
    lines.append(f"Days of use in this episode: {history.episode_days}; likely physically dependent: "
                 f"{_yes(history.likely_dependent)}; more than a year: {_yes(history.is_long_term)}; "
                 f"in a taper: {_yes(history.in_taper_context)}.")
    age = facts.patient.age_on(evaluation.at.date())
    lines.append(f"Age: {age if age is not None else 'unknown (no birth date)'}; pregnancy: "
                 f"{facts.pregnancy if facts.pregnancy is not None else 'none found'}.")
    problems = sorted({p.concept for p in facts.patient.problems})
    lines.append("Problems recognised: " + (", ".join(problems) if problems else "none") + ".")
    return lines


def _de(value: Fraction | None) -> str:
    return "unknown" if value is None else mg(value)


def _what_it_looks_for(rule: Rule) -> str:
    """The first sentence of the rule module's docstring, without its card-type prefix."""
    doc = sys.modules[rule.evaluate.__module__].__doc__ or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
    found = first.split("):", 1)[-1].split(":", 1)[-1] if first.startswith("Card") else first
    return found.strip().rstrip(".")


def _why_lines(finding: Finding) -> list[str]:
    """The facts the card itself names (its "Why this card" list)."""
    lines = finding.detail.splitlines()
    if "**Why this card:**" not in lines:
        return []
    start = lines.index("**Why this card:**") + 1
    found = []
    for line in lines[start:]:
        if not line.startswith("- "):
            break
        found.append(line[2:])
    return found


def rule_lines(facts: ClinicalFacts, result: EngineResult, shown: set[tuple[str, str | None]]) -> list[str]:
    lines: list[str] = []
    for rule in RULES:
        code = rule.card_type
        findings = [f for f in result.findings if f.card_type == code]
        if code in result.failed_rules:
            lines.append(f"{code}: failed on this record (skipped; the other rules still ran)")
            continue
        for finding in findings:
            hidden = "" if (code, finding.order_id) in shown else \
                " — not shown (another card about the same order, the five-card budget, or a snooze)"
            lines.append(f"{code}: FIRED [{finding.indicator}] {finding.summary}{hidden}")
            lines += [f"    because: {why}" for why in _why_lines(finding)]
        if findings:
            continue
        unmet = next((need for need, holds in rule.declaration.gates if not holds(facts)), None)
        speaker = next((other for other in PRECEDENCE[code] if (speaks := RULE_BY_TYPE[other].speaks_for) is not None
                        and speaks(facts)), None)
        if unmet is not None:
            lines.append(f"{code}: silent — needs {unmet}, which this call does not show")
        elif speaker is not None:
            lines.append(f"{code}: silent — the {speaker} card speaks for this step (it outranks this rule)")
        else:
            lines.append(f"{code}: silent — looks for {_what_it_looks_for(rule)}; the facts above do not meet it")
    return lines


def explain(facts: ClinicalFacts, result: EngineResult, shown: set[tuple[str, str | None]]) -> str:
    """``shown``: (card type, order id) of the findings that became cards."""
    return "\n".join(["Facts:", *(f"  {line}" for line in facts_lines(facts)), "Rules:",
                      *(f"  {line}" for line in rule_lines(facts, result, shown))])

"""Runs every rule, isolates failures, and applies alert discipline (docs/service-contract.md §5, §7).

- A rule that raises is logged (rule name and exception type only — never patient data) and counted;
  the other rules' findings still return.
- The rules run in rank order (each rule's ``Declaration.rank``); when one rule's card speaks for a taper step,
  the rules it outranks stay silent about that step (the precedence policy, ``rules.PRECEDENCE``).
- Never two findings of the same card type for the same order; most severe first, then by rank; at most
  ``MAX_CARDS``, distinct concerns kept ahead of a second rate card about the
  same order; supportive information gives way to a warning about the same order.
- One card set, no repeats: a shared fact stated once in full, a suggestion carried by one card
  (docs/clinical-reference.md §6e).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cds_service.clinical.cards import CARD_TYPES
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import SEVERITY, Finding, Suggestion
from cds_service.clinical.rules import RULES, Rule

MAX_CARDS = 5
RATE_CARDS = frozenset(rule.card_type for rule in RULES if rule.declaration.rate_card)
"""Card types judging the pace of one taper step. When more than ``MAX_CARDS`` cards qualify, a second rate card
about the same order gives way to distinct concerns — another order or another rule family
(docs/clinical-reference.md §6e). The ``older-adult`` card is a distinct concern, not a second card about the
step: it is about the patient (falls, cognitive impairment, fractures in older age) and its slower pace
(docs/clinical-reference.md §6e). Each rule declares whether it is one (``Declaration.rate_card``)."""

log = logging.getLogger(__name__)


@dataclass
class EngineResult:
    findings: list[Finding]
    failed_rules: list[str] = field(default_factory=list)
    data_notes: tuple[str, ...] = ()
    """What could not be read of the record the rules read, taken once every rule has run: some parts of the
    record (observations, the opioid history) are parsed only when a rule reads them, and only then count
    (:attr:`PatientRecord.incomplete`)."""


def without_repeats(findings: list[Finding]) -> list[Finding]:
    """One card set, no repeats (docs/clinical-reference.md §6e), over the cards answered, in their order:

    - no two cards carry the same suggestion: it stays on the highest-ranked card that has it — or on a card that
      carries its shared suggestions (the older-adult warning: for a patient 65 or older every one-click step keeps
      the older-adult pace, so it is that card's own slower step) — and the others say where it is;
    - a fact line (``- …``) already stated on a higher-ranked card about the same order is stated there in full and
      referred to here, not repeated."""
    def carrier(suggestion: Suggestion) -> Finding:
        holders = [f for f in findings if suggestion in f.suggestions]
        return next((f for f in holders if f.carries_shared_suggestions), holders[0])

    stated: dict[str, tuple[Finding, str | None]] = {}
    answered = []
    for finding in findings:
        kept = tuple(s for s in finding.suggestions if carrier(s) is finding)
        elsewhere = [carrier(s) for s in finding.suggestions if carrier(s) is not finding]
        lines: list[str] = []
        referred: Finding | None = None
        for line in finding.detail.split("\n"):
            earlier = stated.get(line) if line.startswith("- ") else None
            if earlier is not None and earlier[1] == finding.order_id:
                if referred is None:
                    referred = earlier[0]
                    lines.append(f"- {_shared_facts(line)}: as stated on the “{CARD_TYPES[referred.card_type]}” "
                                 "card.")
                continue
            lines.append(line)
        for line in lines:
            if line.startswith("- ") and line not in stated:
                stated[line] = (finding, finding.order_id)
        if elsewhere:
            lines += ["", f"**One-click options:** on the “{CARD_TYPES[elsewhere[0].card_type]}” card."]
        if kept != finding.suggestions or referred is not None:
            finding = replace(finding, suggestions=kept, detail="\n".join(lines))
        answered.append(finding)
    return answered


def _shared_facts(first_line: str) -> str:
    # the step facts every rate card states start with the drug's own dose or the total
    return "Doses, diazepam-equivalents, step and history" if first_line.startswith(
        ("- Total benzodiazepine dose", "- Under the")) or (": " in first_line and " → " in first_line) \
        else "Further facts"


def run_rules(
    facts: ClinicalFacts,
    rules: tuple[Rule, ...] = RULES,
    on_rule_failure: Callable[[str], None] | None = None,
    snoozed: Callable[[], frozenset[str]] = frozenset,
) -> EngineResult:
    """Every rule's findings, then snooze and alert discipline (:func:`select_cards`)."""
    result = evaluate_rules(facts, rules, on_rule_failure)
    return EngineResult(select_cards(result.findings, snoozed), result.failed_rules)


def evaluate_rules(
    facts: ClinicalFacts,
    rules: tuple[Rule, ...] = RULES,
    on_rule_failure: Callable[[str], None] | None = None,
) -> EngineResult:
    """Every rule's findings, as they are (before snooze and discipline); a rule that raises is skipped. Then, as
    its own step, the notes on what the rules read and could not read (:attr:`EngineResult.data_notes`)."""
    findings: list[Finding] = []
    failed: list[str] = []
    for rule in rules:
        try:
            findings.extend(rule.evaluate(facts))
        except Exception as exc:  # one rule's bug must not take the other cards down
            log.error("rule failed", extra={"rule": rule.card_type, "error_type": type(exc).__name__})
            failed.append(rule.card_type)
            if on_rule_failure is not None:
                on_rule_failure(rule.card_type)
    return EngineResult(findings=findings, failed_rules=failed, data_notes=facts.evaluation.record.incomplete)


def select_cards(findings: list[Finding], snoozed: Callable[[], frozenset[str]] = frozenset) -> list[Finding]:
    """``snoozed`` gives the card types the prescriber silenced for this patient (never a critical card); it
    is asked only when there is something to silence."""
    silenced = snoozed() if findings else frozenset()
    kept = disciplined([f for f in findings if f.card_type not in silenced or f.indicator == "critical"])
    return without_repeats([f for f in kept if not f.only_card] or kept)


def disciplined(findings: list[Finding]) -> list[Finding]:
    warned = {f.order_id for f in findings if f.indicator != "info"}
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for finding in sorted(findings, key=lambda f: SEVERITY[f.indicator]):
        if finding.yields_to_warnings and finding.order_id in warned:
            continue
        key = (finding.card_type, finding.order_id)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    rated: set[str | None] = set()
    repeats: set[int] = set()
    for finding in unique:
        if finding.card_type in RATE_CARDS:
            if finding.order_id in rated:
                repeats.add(id(finding))
            rated.add(finding.order_id)
    # warnings about distinct concerns, then repeated rate cards, then information
    ranked = sorted(unique, key=lambda f: (f.indicator == "info", id(f) in repeats))
    kept = {id(f) for f in ranked[:MAX_CARDS]}
    return [f for f in unique if id(f) in kept]

"""Runs every rule, isolates failures, and applies alert discipline (service-contract.md §5, §7).

- A rule that raises is logged (rule name and exception type only — never patient data) and counted;
  the other rules' findings still return.
- Never two findings of the same card type for the same order; most severe first; at most
  ``MAX_CARDS`` (issue #4 "Alert discipline"); supportive information gives way to a warning about the
  same order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import SEVERITY, Finding
from cds_service.clinical.rules import RULES, Rule

MAX_CARDS = 5
DISTINCT_CONCERNS = frozenset({"opioid-benzodiazepine"})
"""Card types about another risk than the taper step itself: kept within the budget even when more than
``MAX_CARDS`` cards qualify (docs/clinical-reference.md §9.13: distinct concerns ahead of repeated rate cards)."""

log = logging.getLogger(__name__)


@dataclass
class EngineResult:
    findings: list[Finding]
    failed_rules: list[str] = field(default_factory=list)


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
    """Every rule's findings, as they are (before snooze and discipline); a rule that raises is skipped."""
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
    return EngineResult(findings=findings, failed_rules=failed)


def select_cards(findings: list[Finding], snoozed: Callable[[], frozenset[str]] = frozenset) -> list[Finding]:
    """``snoozed`` gives the card types the prescriber silenced for this patient (never a critical card); it
    is asked only when there is something to silence."""
    silenced = snoozed() if findings else frozenset()
    return disciplined([f for f in findings if f.card_type not in silenced or f.indicator == "critical"])


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
    kept = {id(f) for f in [f for f in unique if f.card_type in DISTINCT_CONCERNS][:MAX_CARDS]}
    kept |= {id(f) for f in [f for f in unique if id(f) not in kept][:MAX_CARDS - len(kept)]}
    return [f for f in unique if id(f) in kept]

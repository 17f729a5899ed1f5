"""The rule registry: every module of this package is one rule (one card type), found here by its name.

A rule module declares its card at the top (``DECLARATION``, :class:`~cds_service.clinical.declaration.Declaration`:
card type and display, indicators, rank, rate card, explain gates, the rules it outranks) and exposes
``evaluate(facts) -> Iterator[Finding]``; a rule that outranks others also exposes ``speaks_for(facts) -> bool``.
Adding a rule is adding a module (CONTRIBUTING.md, "How to add a rule"): nothing here lists the rules.

:data:`RULES` runs in rank order, which is the order of cards of the same indicator. :data:`PRECEDENCE` is the
policy between rules about one taper step (docs/clinical-reference.md §8c, §6b): a rule asks
:func:`outranked` instead of importing the rules that outrank it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from cds_service.clinical.declaration import Declaration

if TYPE_CHECKING:
    from cds_service.clinical.facts import ClinicalFacts
    from cds_service.clinical.findings import Finding


@dataclass(frozen=True)
class Rule:
    """A rule module as the engine runs it."""

    declaration: Declaration
    evaluate: Callable[[ClinicalFacts], Iterable[Finding]]
    speaks_for: Callable[[ClinicalFacts], bool] | None = None
    """Whether the rule's card is the one card about the step (for a rule that outranks others)."""

    @property
    def card_type(self) -> str:
        return self.declaration.card_type


def _discovered() -> tuple[Rule, ...]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        declaration = cast(Declaration, module.DECLARATION)
        speaks_for = cast("Callable[[ClinicalFacts], bool] | None", getattr(module, "speaks_for", None))
        if declaration.outranks and speaks_for is None:
            raise TypeError(f"{module.__name__} outranks other rules but defines no speaks_for(facts)")
        found.append(Rule(declaration, module.evaluate, speaks_for))
    return tuple(sorted(found, key=lambda rule: rule.declaration.rank))


def outranked(card_type: str, facts: ClinicalFacts) -> bool:
    """Whether a rule that outranks ``card_type`` speaks for the step of these facts (:data:`PRECEDENCE`)."""
    return any(cast("Callable[[ClinicalFacts], bool]", RULE_BY_TYPE[winner].speaks_for)(facts)
               for winner in PRECEDENCE[card_type])


# discovered after outranked() exists: a rule module imports it while the registry is being built
RULES: tuple[Rule, ...] = _discovered()
"""Every rule, in rank order."""

RULE_BY_TYPE: dict[str, Rule] = {rule.card_type: rule for rule in RULES}

PRECEDENCE: dict[str, tuple[str, ...]] = {
    rule.card_type: tuple(other.card_type for other in RULES if rule.card_type in other.declaration.outranks)
    for rule in RULES
}
"""The engine's precedence policy: for each card type, the card types whose card, when it speaks for a taper
step, is the one card about it (built from each rule's ``outranks``)."""

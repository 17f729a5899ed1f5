"""One module per card type; each turns :class:`ClinicalFacts` into zero or more findings.

To add a rule: write ``rules/<card_type>.py`` exposing ``CARD_TYPE`` and ``evaluate(facts)``, then list
it in ``RULES`` below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds_service.clinical.rules import baclofen_adjunct

if TYPE_CHECKING:
    from cds_service.clinical.facts import ClinicalFacts
    from cds_service.clinical.findings import Finding


@dataclass(frozen=True)
class Rule:
    card_type: str
    evaluate: Callable[[ClinicalFacts], Iterable[Finding]]


RULES: tuple[Rule, ...] = tuple(
    Rule(module.CARD_TYPE, module.evaluate)
    for module in (baclofen_adjunct,)
)

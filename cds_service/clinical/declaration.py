"""What each rule declares about its card, in one place at the top of its module (CONTRIBUTING.md, "How to add a
rule"); the registry (``cds_service.clinical.rules``) collects the declarations and everything else derives from
them: the card-type displays of the cards, the engine's ranking, rate cards and precedence policy, and the
``--explain`` gates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Indicator
from cds_service.clinical.profiles import OLDER_ADULT_AGE
from cds_service.clinical.taper_step import assess_step, is_older_adult

Gate = tuple[str, Callable[[ClinicalFacts], bool]]
"""A necessary condition of a rule, in words, and its test: when the test fails, ``--explain`` names it as the
reason the rule stayed silent. A gate never decides whether the rule fires — the rule does."""


@dataclass(frozen=True)
class Declaration:
    """A rule's card as the rest of the service sees it (docs/service-contract.md §5)."""

    card_type: str
    """The card-type code (``source.topic.code``), fixed by docs/service-contract.md §5."""
    display: str
    """The card type's name (``source.topic.display``), fixed by docs/service-contract.md §5."""
    indicators: tuple[Indicator, ...]
    """Every indicator the rule's cards may carry (docs/service-contract.md §5 "Indicator")."""
    rank: int
    """Among cards of the same indicator, lower ranks come first (docs/clinical-reference.md §6e: the most
    severe card first). Unique; spaced by ten so that a new rule can go between two."""
    rate_card: bool = False
    """The card judges the pace of one taper step: when more than the card budget qualifies, a second rate card
    about the same order gives way to distinct concerns (docs/clinical-reference.md §6e)."""
    gates: tuple[Gate, ...] = ()
    """The rule's obvious necessary conditions, in the order the rule tests them (``--explain``)."""
    outranks: tuple[str, ...] = ()
    """Card types whose rules do not judge a step this rule's card speaks for (the rate and abrupt-stop cards stay
    silent; the older-adult card keeps its advice without a pace verdict): the module then defines
    ``speaks_for(facts) -> bool`` and the rules it outranks ask ``rules.outranked`` (the precedence policy)."""


def draft_of(*classes: str) -> Callable[[ClinicalFacts], bool]:
    """A gate test: a draft of one of these drug classes is evaluated."""
    return lambda facts: any(d.product.drug_class in classes for d in facts.evaluated_drafts)


A_STEP: Gate = ("a benzodiazepine draft that lowers the total diazepam-equivalent",
                lambda facts: assess_step(facts) is not None)
A_BENZODIAZEPINE_DRAFT: Gate = ("a benzodiazepine draft", draft_of("benzodiazepine"))
LIKELY_DEPENDENT: Gate = ("likely physical dependence", lambda facts: facts.history.likely_dependent)
AN_OLDER_ADULT: Gate = (f"age {OLDER_ADULT_AGE} or older on the order date", is_older_adult)

"""What a rule concludes, before it becomes a CDS Hooks card (rules → findings → cards)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Indicator = Literal["info", "warning", "critical"]
SelectionBehavior = Literal["at-most-one", "any"]

SEVERITY: dict[Indicator, int] = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Action:
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resource_id: str | None = None
    """Relative reference (``MedicationRequest/<id>``) of the resource a ``delete`` removes."""
    dispensed: str | None = None
    """What the order the action creates or updates dispenses ("135 tablets for 30 days, no refills"), for the
    suggestion's label (docs/clinical-reference.md §9b)."""


MAX_LABEL = 80
"""A suggestion's label is a button a prescriber reads at a glance: about 80 characters at most; what it leaves out
goes into :attr:`Suggestion.detail` (docs/clinical-reference.md §6f)."""


@dataclass(frozen=True)
class Suggestion:
    label: str
    actions: tuple[Action, ...]
    is_recommended: bool = False
    detail: str = ""
    """What the label leaves out (why, the exact regimen): stated in the card's detail under the label."""


def draft_removal(label: str, description: str, draft_id: str) -> Suggestion:
    """The recommended one-click removal of a draft order: a ``delete`` of ``MedicationRequest/<draft_id>``."""
    return Suggestion(label, (Action(type="delete", description=description,
                                     resource_id=f"MedicationRequest/{draft_id}"),), is_recommended=True)


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Finding:
    card_type: str
    """A card-type code of docs/service-contract.md §5 (``source.topic.code``)."""
    indicator: Indicator
    summary: str
    detail: str
    order_id: str | None
    """The draft order the finding concerns, for de-duplication (one card per order and type)."""
    source_url: str
    suggestions: tuple[Suggestion, ...] = ()
    selection_behavior: SelectionBehavior = "at-most-one"
    links: tuple[Link, ...] = field(default_factory=tuple)
    yields_to_warnings: bool = False
    """Supportive information that is dropped when a warning or critical card concerns the same order
    (alert discipline: few cards, the most important one first)."""
    carries_shared_suggestions: bool = False
    """A suggestion this card shares with higher-ranked cards of the call stays on this card (the older-adult
    warning's own slower step: docs/clinical-reference.md §6e)."""
    only_card: bool = False
    """Shown only when it is the only card of the call (docs/clinical-reference.md §11q: a routine step's
    support card says the step was checked; beside any other card it is left out)."""

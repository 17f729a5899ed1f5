"""Findings → CDS Hooks 2.0 cards (docs/service-contract.md §5, CDS Hooks 2.0).

This is the one place cards are assembled, so the invariants hold for every rule: a UUID on every card
and suggestion; summary under 140 characters; ``source`` with label, url and topic; override reasons
with a display; ``selectionBehavior`` whenever there are suggestions; ``delete`` actions carry
``resourceId`` and no resource; no empty strings, arrays or objects.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cds_service.clinical.findings import Action, Finding
from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.rules import RULES
from cds_service.clinical.taper_plan import TABLE_NAMES
from cds_service.clinical.wording import plain_text

SOURCE_LABEL = "Benzodiazepine Taper Safety"
CARD_TYPE_SYSTEM = "urn:bzd-taper-cds:card-type"
OVERRIDE_REASON_SYSTEM = "urn:bzd-taper-cds:override-reason"
MAX_SUMMARY = 139

log = logging.getLogger(__name__)

CARD_TYPES: dict[str, str] = {rule.card_type: rule.declaration.display for rule in RULES}
"""Card-type codes (``source.topic.code``) and their displays — fixed by docs/service-contract.md §5, declared by
each rule module (``DECLARATION``), in rank order."""

OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("will-act", "Acknowledged — will change the order"),
    ("patient-specific-plan", "Patient-specific plan agreed with the patient"),
    ("specialist-managing", "A specialist is managing this taper"),
    ("not-applicable", "Does not apply to this patient"),
)
"""Override reasons offered on warning and critical cards (system ``urn:bzd-taper-cds:override-reason``)."""


KNOWLEDGE_EXTENSION = "bzd-taper-cds.knowledge"
"""Card ``extension`` key naming the rules that produced the card (docs/service-contract.md §5, §9)."""


@dataclass(frozen=True)
class KnowledgeVersion:
    """Which rules produced a card: the package version and the settings that change its thresholds."""

    version: str
    profile: str
    equivalence_table: EquivalenceTable

    def extension(self) -> dict[str, str]:
        return {"version": self.version, "profile": self.profile, "equivalenceTable": self.equivalence_table}

    def footer(self) -> str:
        # Sources by name, never the internal profile code (docs/clinical-reference.md §6f).
        # The profile is the installation's clinical policy: named with its source (docs/clinical-reference.md §0).
        profile = taper_profile(self.profile)
        return (f"_Rules: bzd-taper-cds {self.version}; taper thresholds of the {profile.name} ({profile.published}); "
                f"{TABLE_NAMES[self.equivalence_table]} equivalence table._")


def build_card(
    finding: Finding,
    data_notes: tuple[str, ...] = (),
    new_uuid: Callable[[], str] = lambda: str(uuid.uuid4()),
    knowledge: KnowledgeVersion | None = None,
) -> dict[str, Any]:
    """``data_notes`` say which parts of the record could not be read (docs/service-contract.md §3: history the
    client could not supply is never silently treated as "no history"); ``knowledge`` is named in the card's
    ``extension`` and on the last line of its detail, so a reader can tell which rules produced it."""
    if finding.card_type not in CARD_TYPES:
        raise ValueError(f"unknown card type {finding.card_type!r}")
    card: dict[str, Any] = {
        "uuid": new_uuid(),
        "summary": _summary(finding.summary),
        "indicator": finding.indicator,
        "source": {
            "label": SOURCE_LABEL,
            "url": finding.source_url,
            "topic": {"system": CARD_TYPE_SYSTEM, "code": finding.card_type,
                      "display": CARD_TYPES[finding.card_type]},
        },
    }
    detail = finding.detail.strip()
    explained = [f"- **{s.label}** — {s.detail}" for s in finding.suggestions if s.actions and s.detail]
    if explained:
        detail += "\n\n**One-click options:**\n" + "\n".join(explained)
    if data_notes:
        detail += "\n\n**Data not fully read:** " + "; ".join(plain_text(note, 200) for note in data_notes) + "."
    if knowledge is not None:
        detail = (detail + "\n\n" if detail else "") + knowledge.footer()
        card["extension"] = {KNOWLEDGE_EXTENSION: knowledge.extension()}
    if detail:
        card["detail"] = detail
    if finding.indicator in ("warning", "critical"):
        card["overrideReasons"] = [
            {"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": display} for code, display in OVERRIDE_REASONS
        ]
    suggestions = [
        _suggestion(s.label, s.actions, s.is_recommended, new_uuid) for s in finding.suggestions if s.actions
    ]
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = finding.selection_behavior
    if finding.links:
        card["links"] = [{"label": link.label, "url": link.url, "type": "absolute"} for link in finding.links]
    return card


@dataclass(frozen=True)
class BuiltCards:
    cards: list[tuple[Finding, dict[str, Any]]]
    """Each finding answered, with its card."""
    failed: list[str]
    """Card types of findings whose card could not be built (dropped, logged)."""


def build_cards(
    findings: Iterable[Finding],
    data_notes: tuple[str, ...] = (),
    new_uuid: Callable[[], Callable[[], str]] | None = None,
    knowledge: KnowledgeVersion | None = None,
) -> BuiltCards:
    """Every finding's card, each built inside the same isolation boundary as the rules (docs/service-contract.md
    §7): a finding whose card cannot be built — an action without its resource, say — is dropped and logged with
    its rule (type of error only, never patient data), and the other cards are still answered.
    ``new_uuid`` gives one uuid maker per card (random uuids without it)."""
    built: list[tuple[Finding, dict[str, Any]]] = []
    failed: list[str] = []
    for finding in findings:
        try:
            card = build_card(finding, data_notes, new_uuid(), knowledge=knowledge) if new_uuid is not None \
                else build_card(finding, data_notes, knowledge=knowledge)
        except Exception as exc:  # one card's bug must not take the other cards down
            log.error("card could not be built", extra={"rule": finding.card_type, "error_type": type(exc).__name__})
            failed.append(finding.card_type)
            continue
        built.append((finding, card))
    return BuiltCards(built, failed)


def _summary(summary: str) -> str:
    summary = " ".join(summary.split())
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 1].rstrip() + "…"
    return summary


def _suggestion(label: str, actions: tuple[Action, ...], recommended: bool, new_uuid: Callable[[], str]
                ) -> dict[str, Any]:
    suggestion: dict[str, Any] = {"label": label, "uuid": new_uuid(), "actions": [_action(a) for a in actions]}
    if recommended:
        suggestion["isRecommended"] = True
    return suggestion


def _action(action: Action) -> dict[str, Any]:
    built: dict[str, Any] = {"type": action.type, "description": action.description}
    if action.type == "delete":
        if not action.resource_id:
            raise ValueError("a delete action needs resourceId")
        built["resourceId"] = action.resource_id
    else:
        if not action.resource:
            raise ValueError(f"a {action.type} action needs the resource")
        built["resource"] = action.resource
    return built

"""One validator for every card any test sees: CDS Hooks 2.0 §Card rules (CDS Hooks 2.0) and the
service contract §5, including the Inferno CRD generic checks of CDS Hooks 2.0"""

from __future__ import annotations

import copy
import re
import uuid
from importlib.metadata import version
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.STU3 import get_fhir_model_class as stu3_model_class

from cds_service.clinical.rules import RULES
from cds_service.version import knowledge_version

INDICATORS = {rule.card_type: rule.declaration.indicators for rule in RULES}
"""Each card type and the indicators its rule declares (the registry; tests/test_card_catalog.py checks them
against docs/service-contract.md §5)."""
CARD_TYPES = set(INDICATORS)


def _is_uuid4(value: Any) -> bool:
    try:
        return isinstance(value, str) and uuid.UUID(value).version == 4
    except ValueError:
        return False


def assert_no_empty_members(value: Any, path: str = "$") -> None:
    """CDS Hooks §1: no null and no empty string, array or object anywhere."""
    assert value is not None, f"null at {path}"
    if isinstance(value, str):
        assert value != "", f"empty string at {path}"
    elif isinstance(value, list):
        assert value, f"empty array at {path}"
        for index, item in enumerate(value):
            assert_no_empty_members(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        assert value, f"empty object at {path}"
        for key, item in value.items():
            assert_no_empty_members(item, f"{path}.{key}")


def assert_valid_response(body: Any, draft_ids: set[str] | None = None, fhir_version: str = "R4") -> None:
    """``fhir_version``: ``STU3`` for the legacy medication-prescribe hook, whose suggestions carry STU3 resources
    (docs/clinical-reference.md §7l)."""
    assert isinstance(body, dict) and isinstance(body.get("cards"), list), "cards must be an array"
    if "systemActions" in body:
        assert isinstance(body["systemActions"], list) and body["systemActions"]
    uuids = [card.get("uuid") for card in body["cards"]]
    assert len(set(uuids)) == len(uuids), "card uuids must be unique in a response"
    seen = set()
    # one card set, no repeats (docs/clinical-reference.md §6e): no two cards carry the same suggestion
    offered = [(s["label"], repr([{k: v for k, v in a.items()} for a in s["actions"]]))
               for card in body["cards"] for s in card.get("suggestions", [])]
    assert len(set(offered)) == len(offered), f"the same suggestion on two cards: {[o[0] for o in offered]}"
    for card in body["cards"]:
        assert_valid_card(card, draft_ids, fhir_version)
        assert_knowledge_version(card)
        # one card per card type and order: the detail's first line names the order (by its product: two drafts
        # of one product are told apart by the drafts their suggestions change)
        targets = tuple(sorted({a.get("resourceId") or a["resource"].get("id") or ""
                                for s in card.get("suggestions", []) for a in s["actions"] if a["type"] != "create"}))
        seen_key = (card["source"]["topic"]["code"], card.get("detail", "").split("\n")[0], targets)
        assert seen_key not in seen, f"duplicate card {seen_key}"
        seen.add(seen_key)


def assert_knowledge_version(card: dict[str, Any]) -> None:
    """Every card a call returns names the rules that produced it: the installed package version and the
    settings, in its ``extension`` and on the last line of its detail (docs/service-contract.md §5, §9)."""
    knowledge = card["extension"]["bzd-taper-cds.knowledge"]
    assert knowledge["version"] == knowledge_version()
    assert knowledge["version"].startswith(version("bzd-taper-cds") + "+k")
    assert knowledge["profile"] in ("summary", "joint-2025") and knowledge["equivalenceTable"] in ("ashton", "va-dod")
    table = {"ashton": "Ashton", "va-dod": "VA/DoD"}[knowledge["equivalenceTable"]]
    profile = {"summary": "taper summary guidance (a guidance summary with no named published source, not a "
                          "guideline)",
               "joint-2025": "2025 Joint Guideline (Brunner E, et al. J Gen Intern Med 2025, "
                             "https://doi.org/10.1007/s11606-025-09499-2)"}[knowledge["profile"]]
    assert card["detail"].splitlines()[-1] == (f"_Rules: bzd-taper-cds {knowledge['version']}; taper thresholds of "
                                               f"the {profile}; {table} equivalence table._")


_RESOURCE_ID = re.compile(r"\b(?:MedicationRequest|MedicationOrder|MedicationStatement|MedicationDispense|Condition|"
                          r"Observation|Patient|ServiceRequest)/[A-Za-z0-9.-]")
_API_URL = re.compile(r"api\.fda\.gov|\.json(?:$|[?#])|/api/", re.IGNORECASE)


def assert_card_text_a_prescriber_reads(card: dict[str, Any]) -> None:
    """docs/clinical-reference.md §6f: suggestion labels of about 80 characters at most (the detail carries the
    rest); no resource ids or parser notes in what a prescriber reads; ``source.url`` and links are pages a person
    reads, never an API's JSON."""
    texts = [card["summary"], card.get("detail", "")]
    for suggestion in card.get("suggestions", []):
        assert len(suggestion["label"]) <= 80, f"suggestion label over 80 characters: {suggestion['label']!r}"
        texts.append(suggestion["label"])
    for text in texts:
        # the rules of numbers (cds_service/clinical/wording.py): percentages to one decimal place, nothing longer
        # than three decimals
        assert not re.search(r"\d\.\d{2,} ?%", text), f"a percentage with more than one decimal: {text!r}"
        assert not re.search(r"(?<![\w/.])\d+\.\d{4,}", text), f"a number with more than three decimals: {text!r}"
        assert not _RESOURCE_ID.search(text), f"resource id in card text: {text!r}"
        assert "identified by name" not in text, f"parser note in card text: {text!r}"
    for url in [card["source"]["url"], *(link["url"] for link in card.get("links", []))]:
        assert not _API_URL.search(url), f"not a page a person reads: {url}"


def assert_valid_card(card: dict[str, Any], draft_ids: set[str] | None = None, fhir_version: str = "R4") -> None:
    assert_no_empty_members(card)
    assert_card_text_a_prescriber_reads(card)
    assert _is_uuid4(card.get("uuid")), "card.uuid must be a UUID v4"
    assert isinstance(card.get("summary"), str) and len(card["summary"]) < 140, "summary must be < 140 chars"
    assert card.get("indicator") in ("info", "warning", "critical")
    source = card.get("source")
    assert isinstance(source, dict) and source.get("label") == "Benzodiazepine Taper Safety"
    assert isinstance(source.get("url"), str) and source["url"].startswith("https://")
    topic = source.get("topic")
    assert topic["system"] == "urn:bzd-taper-cds:card-type" and topic["code"] in CARD_TYPES
    assert card["indicator"] in INDICATORS[topic["code"]], f"{topic['code']} does not declare {card['indicator']}"
    if draft_ids is not None:  # a card of a real call names the order it concerns
        assert "**Order:**" in card.get("detail", ""), "every card names the order it concerns"
    if "detail" in card:
        assert isinstance(card["detail"], str) and not re.search(r"<[A-Za-z/!]", card["detail"]), \
            "detail: Markdown without raw HTML"
    if card["indicator"] in ("warning", "critical"):
        reasons = card.get("overrideReasons")
        assert isinstance(reasons, list) and reasons, "warning/critical cards carry overrideReasons"
    for reason in card.get("overrideReasons", []):
        assert reason["system"] == "urn:bzd-taper-cds:override-reason" and reason["code"] and reason["display"]
    if "suggestions" in card:
        assert card.get("selectionBehavior") in ("at-most-one", "any"), "suggestions need selectionBehavior"
        if card["selectionBehavior"] == "at-most-one":
            assert sum(bool(s.get("isRecommended")) for s in card["suggestions"]) <= 1
        for suggestion in card["suggestions"]:
            assert suggestion.get("label") and _is_uuid4(suggestion.get("uuid"))
            assert isinstance(suggestion.get("actions"), list) and suggestion["actions"]
            for action in suggestion["actions"]:
                _assert_valid_action(action, draft_ids, fhir_version)
    else:
        assert "selectionBehavior" not in card
    for link in card.get("links", []):
        assert link["label"] and link["url"].startswith(("https://", "http://")) and link["type"] == "absolute"
        assert "appContext" not in link


def _assert_valid_action(action: dict[str, Any], draft_ids: set[str] | None, fhir_version: str = "R4") -> None:
    assert action.get("type") in ("create", "update", "delete") and action.get("description")
    if action["type"] == "delete":
        assert "resource" not in action and isinstance(action.get("resourceId"), str)
        kind, _, ident = action["resourceId"].partition("/")
        assert kind and ident, "resourceId is a relative reference Type/id"
        if draft_ids is not None:
            assert ident in draft_ids, "delete must target a draft order of the call"
    else:
        resource = action.get("resource")
        assert isinstance(resource, dict) and resource.get("resourceType")
        models = stu3_model_class if fhir_version == "STU3" else get_fhir_model_class
        models(resource["resourceType"]).model_validate(resource)  # valid R4 (Inferno parses it), or STU3
        if action["type"] == "update" and draft_ids is not None:
            assert resource.get("id") in draft_ids, "update must target a draft order of the call"


def accept(body: dict[str, Any], suggestion: dict[str, Any]) -> dict[str, Any]:
    """Apply a suggestion's actions to the draft orders, as an EHR would, and return the next request."""
    accepted = copy.deepcopy(body)
    entries = accepted["context"]["draftOrders"]["entry"]
    for action in suggestion["actions"]:
        if action["type"] == "delete":
            ident = action["resourceId"].split("/")[1]
            entries[:] = [e for e in entries if e["resource"].get("id") != ident]
        elif action["type"] == "update":
            entries[:] = [{"resource": action["resource"]} if e["resource"].get("id") == action["resource"]["id"]
                          else e for e in entries]
        elif action["resource"]["resourceType"] == "MedicationRequest":
            entries.append({"resource": {**action["resource"], "id": "accepted-new"}})
    return accepted

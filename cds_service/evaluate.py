"""The path of one hook call, without HTTP: validated request → record → facts → rules → cards.

Used by the HTTP blueprint (``cds_service/api/hooks.py``) and the ``bzd-taper-cds evaluate`` command
(``cds_service/cli.py``; offline unless ``--fetch``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds_service.clinical.cards import KnowledgeVersion, build_cards
from cds_service.clinical.engine import EngineResult, evaluate_rules, select_cards
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.medications import as_datetime
from cds_service.clinical.record import Evaluation, EvaluationSettings
from cds_service.clinical.terminology import load_terminology
from cds_service.config import Settings
from cds_service.feedback.repository import CardRecord
from cds_service.fhir.client import FhirAccess, FhirClient, bundle_resources
from cds_service.fhir.parse import parse_patient_record, relevant_resources
from cds_service.fhir.prefetch import RawRecord, resolve_prefetch
from cds_service.fhir.stu3 import as_stu3, resources_as_r4
from cds_service.services import ServiceDefinition, prefetch_templates
from cds_service.version import knowledge_version


@dataclass(frozen=True)
class HookOutcome:
    response: dict[str, Any]
    failed_rules: tuple[str, ...]
    cards: tuple[CardRecord, ...]
    """uuid, card type and indicator of each card returned, for metrics and the card log."""


def evaluate_hook_call(
    service: ServiceDefinition,
    request: dict[str, Any],
    settings: Settings,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    fhir_access: FhirAccess | None = None,
    snoozed: Callable[[], frozenset[str]] = frozenset,
    card_uuids: Callable[[], Callable[[], str]] | None = None,
    allow_fetch: bool = True,
    inspect: Callable[[ClinicalFacts, EngineResult], None] | None = None,
) -> HookOutcome:
    """Evaluate a request already validated by :func:`cds_service.schemas.hook_request.load_hook_request`.

    ``allow_fetch=False`` uses only what the request carries (the offline command line); ``inspect`` is shown
    the facts and every rule's findings of the evaluation answered (``--explain``)."""
    client = None
    templates = prefetch_templates()
    if "fhirServer" in request and allow_fetch:
        token = request.get("fhirAuthorization", {}).get("access_token")
        client = FhirClient(request["fhirServer"], access_token=token, timeout_s=settings.fhir_timeout_s,
                            max_pages=settings.fhir_max_pages, access=fhir_access or allowed_fhir(settings),
                            # every key may need all its pages; no more than that, whatever the server answers
                            max_requests=len(templates) * settings.fhir_max_pages,
                            searches_in_flight=len(templates) * settings.threads)
    try:
        raw = resolve_prefetch(templates, request.get("prefetch") or {}, request["context"], client)
    finally:
        if client is not None:
            client.close()
    facts = clinical_facts(service, request, raw, settings, now)
    result = evaluate_rules(facts)
    if inspect is not None:
        inspect(facts, result)
    findings = select_cards(result.findings, snoozed)
    knowledge = KnowledgeVersion(knowledge_version(), settings.taper_profile, settings.equivalence_table)
    # card_uuids: one uuid maker per card (feedback.card_ids); random uuids otherwise (the command line)
    built = build_cards(findings, result.data_notes, card_uuids, knowledge=knowledge)
    if service.hook == "medication-prescribe":
        _legacy_resources([card for _, card in built.cards])
    return HookOutcome(
        response={"cards": [card for _, card in built.cards]},
        # a card that could not be built counts as its rule failing (logged, metered, named in the hook log)
        failed_rules=(*result.failed_rules, *built.failed),
        cards=tuple(CardRecord(card["uuid"], f.card_type, f.indicator,
                               tuple(s["uuid"] for s in card.get("suggestions", [])))
                    for f, card in built.cards),
    )


def allowed_fhir(settings: Settings, client_fhir_servers: tuple[str, ...] = (), tenant: str = "") -> FhirAccess:
    """Where FHIR fallback reads may go for a client (``CDS_FHIR_ALLOWED`` and its ``fhir_servers`` from the trust
    file), and whose kept-alive connections they may use (the client's: ``tenant``, its JWT issuer)."""
    return FhirAccess(settings.fhir_allowed + client_fhir_servers, allow_loopback=settings.development, tenant=tenant)


def _legacy_resources(cards: list[dict[str, Any]]) -> None:
    """The resources the suggestions create or update, in the STU3 shape the legacy hook's client reads
    (docs/clinical-reference.md §7l)."""
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                if "resource" in action:
                    action["resource"] = as_stu3(action["resource"])


def clinical_facts(service: ServiceDefinition, request: dict[str, Any], raw: RawRecord, settings: Settings,
                   now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ClinicalFacts:
    """What the rules read: the record the prefetch (or fallback) gave, parsed, as of the evaluated drafts."""
    context = request["context"]
    terminology = load_terminology()
    legacy = service.hook == "medication-prescribe"
    drafts_bundle = context["medications"] if legacy else context["draftOrders"]
    # the legacy hook's client sends its history in STU3 (or DSTU2) shapes too (docs/clinical-reference.md §7l)
    resources = resources_as_r4(raw.resources) if legacy else raw.resources
    record = parse_patient_record(relevant_resources(resources, terminology), bundle_resources(drafts_bundle),
                                  raw.notes)
    evaluated = _evaluated_ids(context.get("selections")) if service.hook == "order-select" else None
    clinical_settings = EvaluationSettings(profile=settings.taper_profile, equivalence_table=settings.equivalence_table,
                                           taper_plan_url=f"{settings.public_base_url}/taper-plan")
    evaluation = Evaluation(patient_id=context["patientId"], record=record,
                            at=_reference_time(record.draft_orders, evaluated, now),
                            evaluated_order_ids=evaluated, settings=clinical_settings)
    return ClinicalFacts(evaluation, terminology)


def _evaluated_ids(selections: list[str] | None) -> frozenset[str]:
    """``MedicationRequest/123`` → ``123``; selections of other resource types never match a medication draft."""
    return frozenset(s.split("/", 1)[1] for s in selections or [] if s.startswith("MedicationRequest/"))


def _reference_time(drafts: Any, evaluated: frozenset[str] | None, now: Callable[[], datetime]) -> datetime:
    """t = the evaluated draft's ``authoredOn`` (the latest, if several), else now (docs/service-contract.md §4)."""
    times = [as_datetime(d.authoredOn) for d in drafts if evaluated is None or d.id in evaluated]
    known = [t for t in times if t is not None]
    return max(known) if known else now()

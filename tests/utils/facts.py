"""``ClinicalFacts`` for rule unit tests: a record described in clinical terms (the scenario builder's
specification: patient, history, drafts, conditions, observations …) read through the service's own request
loading, prefetch resolution and settings — no HTTP, no database, no card budget — so a test calls a rule's
``evaluate(facts)`` directly and sees every finding it makes, before the engine's alert discipline.

::

    facts = facts_of({"at": "2026-03-16", "patient": {"age": 52},
                      "history": [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 4, "authored": "2025-09-01",
                                   "id": "o1"}],
                      "drafts": [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 2, "prior": "o1"}]})
    [finding] = abrupt_discontinuation.evaluate(facts)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time
from typing import Any

from cds_service.clinical.facts import ClinicalFacts
from cds_service.config import Settings
from cds_service.evaluate import clinical_facts
from cds_service.fhir.prefetch import resolve_prefetch
from cds_service.schemas.hook_request import load_hook_request
from cds_service.services import SERVICES, prefetch_templates
from tests.utils.scenario_builder import SERVICES as SERVICE_OF_HOOK
from tests.utils.scenario_builder import build_request


def facts_from_request(request: dict[str, Any], service_id: str, settings: Mapping[str, Any] | None = None,
                       clock: Callable[[], datetime] | None = None) -> ClinicalFacts:
    """What the rules read for a whole hook request sent to ``service_id`` (``settings`` over ``auth=off``)."""
    service = SERVICES[service_id]
    hook_request = load_hook_request(request, service.hook)
    raw = resolve_prefetch(prefetch_templates(), hook_request.get("prefetch") or {}, hook_request["context"], None)
    configured = Settings(auth="off").with_overrides(dict(settings or {}))
    if clock is None:
        return clinical_facts(service, hook_request, raw, configured)
    return clinical_facts(service, hook_request, raw, configured, clock)


def facts_of(spec: Mapping[str, Any], **settings: Any) -> ClinicalFacts:
    """The facts of a record described as ``tests/utils/scenario_builder.py`` describes one (``at`` defaults to
    2026-03-16; the clock reads noon of that day), under ``settings`` (e.g. ``taper_profile="joint-2025"``)."""
    spec = {"name": "unit", "at": "2026-03-16", **spec}
    noon = datetime.combine(datetime.fromisoformat(spec["at"][:10]).date(), time(12), tzinfo=UTC)
    return facts_from_request(build_request(dict(spec)), SERVICE_OF_HOOK[spec.get("hook", "order-sign")], settings,
                              lambda: noon)

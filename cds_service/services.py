"""The three CDS services this server offers and their prefetch templates (docs/service-contract.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cds_service.clinical.terminology import LOINC, load_terminology

HookName = Literal["order-sign", "order-select", "medication-prescribe"]

_DESCRIPTION = (
    "Checks benzodiazepine orders and adjuncts for taper safety: baclofen used as a taper adjunct, abrupt "
    "discontinuation, taper steps that are too fast, specialist-referral triggers, renal dosing of "
    "gabapentinoids, carbamazepine safety, opioids taken with a benzodiazepine or Z-drug (naloxone, "
    "reassessment, never disrupting opioid-use-disorder treatment) and taper support."
)


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: HookName
    title: str
    description: str

    def discovery_entry(self) -> dict[str, object]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(prefetch_templates()),
        }


SERVICES: dict[str, ServiceDefinition] = {
    service.id: service
    for service in (
        ServiceDefinition(
            id="bzd-taper-order-sign",
            hook="order-sign",
            title="Benzodiazepine taper safety (order-sign)",
            description=_DESCRIPTION + " Evaluates every draft order when the prescriber signs.",
        ),
        ServiceDefinition(
            id="bzd-taper-order-select",
            hook="order-select",
            title="Benzodiazepine taper safety (order-select)",
            description=_DESCRIPTION
            + " Evaluates the selected orders; other draft orders count toward the proposed total dose.",
        ),
        ServiceDefinition(
            id="bzd-taper-medication-prescribe",
            hook="medication-prescribe",
            title="Benzodiazepine taper safety (legacy medication-prescribe)",
            description=_DESCRIPTION + " For legacy clients sending STU3 MedicationRequest drafts.",
        ),
    )
}


def prefetch_templates() -> tuple[tuple[str, str], ...]:
    """Prefetch key → template, identical for all three services (docs/service-contract.md §3)."""
    observation_codes = ",".join(f"{LOINC}|{code}" for code in load_terminology().observation_loinc_codes())
    return (
        ("patient", "Patient/{{context.patientId}}"),
        ("medicationRequests", "MedicationRequest?patient={{context.patientId}}"),
        ("medicationDispenses", "MedicationDispense?patient={{context.patientId}}"),
        ("medicationStatements", "MedicationStatement?patient={{context.patientId}}"),
        ("conditions", "Condition?patient={{context.patientId}}"),
        ("observations", "Observation?patient={{context.patientId}}&code=" + observation_codes),
    )


def unknown_service_message(service_id: str) -> str:
    """The 404 of an unknown service id names the ones there are (an integrator's typo, or an old id)."""
    return (f"no CDS service with id '{service_id}'; the services are {', '.join(SERVICES)} "
            "(discovery: GET /cds-services)")

"""HTTP errors answered with a FHIR OperationOutcome body (docs/service-contract.md §7, CDS Hooks 2.0)."""

from __future__ import annotations

from typing import Any, Literal

IssueCode = Literal[
    "invalid", "structure", "required", "value", "not-found", "security", "login", "not-supported",
    "too-long", "incomplete", "exception", "timeout", "transient", "processing",
]


def operation_outcome(diagnostics: str, code: IssueCode = "invalid", severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


class ServiceError(Exception):
    """An error the HTTP layer turns into ``status`` with an OperationOutcome body."""

    status: int = 500
    issue_code: IssueCode = "exception"

    def __init__(self, diagnostics: str, *, status: int | None = None, issue_code: IssueCode | None = None):
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        if status is not None:
            self.status = status
        if issue_code is not None:
            self.issue_code = issue_code

    def body(self) -> dict[str, Any]:
        return operation_outcome(self.diagnostics, self.issue_code)


class BadRequest(ServiceError):
    status = 400
    issue_code = "invalid"


class PreconditionFailed(ServiceError):
    """Needed data was neither prefetched nor fetchable (CDS Hooks 2.0 §Prefetch: "SHALL respond with 412")."""

    status = 412
    issue_code = "incomplete"

"""A small FHIR R4 REST client for the fallback fetch (cds-hooks.md §4.3).

Every call presents the hook's ``fhirAuthorization`` bearer token when one was given, uses a
per-request timeout from the settings, and follows ``next`` links only up to a bound and only on
the same server (a link elsewhere would leak the token).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests import Response

from cds_service.metrics import FHIR_CALLS, FHIR_LATENCY

MAX_RESPONSE_BYTES = 20 * 1024 * 1024
"""Largest FHIR response read (a Bundle page); beyond it the fetch fails instead of exhausting memory."""


class FhirUnavailable(Exception):
    """The FHIR server could not give us what we asked for (timeout, error status, not JSON)."""


class FhirClient:
    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None,
        timeout_s: float,
        max_pages: int,
        session: requests.Session | None = None,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._max_bytes = max_bytes
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._max_pages = max_pages
        self._session = session or requests.Session()
        self._headers = {"Accept": "application/fhir+json"}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"

    def get(self, relative_url: str) -> dict[str, Any]:
        """GET ``{fhirServer}/{relative_url}`` and return the JSON resource."""
        return self._get_absolute(f"{self.base_url}/{relative_url.lstrip('/')}")

    def entries_following_pages(self, bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """All entry resources of ``bundle`` and of its ``next`` pages; the flag says the page bound cut it short."""
        resources: list[dict[str, Any]] = []
        pages = 0
        for page in self._pages(bundle):
            pages += 1
            resources.extend(bundle_resources(page))
            if pages >= self._max_pages and next_link(page):
                return resources, True
        return resources, False

    def _pages(self, bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page: dict[str, Any] | None = bundle
        while page is not None:
            yield page
            link = next_link(page)
            if link is None:
                return
            if not link.startswith(self.base_url + "/") and not link.startswith(self.base_url + "?"):
                raise FhirUnavailable("a next link points outside the FHIR server")
            page = self._get_absolute(link)

    def _get_absolute(self, url: str) -> dict[str, Any]:
        """One GET, bounded in total time (a slow drip cannot hold the worker) and in size."""
        started = time.monotonic()
        deadline = started + self._timeout_s
        try:
            body = self._get_json(url, deadline)
        except FhirUnavailable:
            FHIR_CALLS.labels("failed").inc()
            raise
        finally:
            FHIR_LATENCY.observe(time.monotonic() - started)
        FHIR_CALLS.labels("ok").inc()
        return body

    def _get_json(self, url: str, deadline: float) -> dict[str, Any]:
        try:
            with self._session.get(url, headers=self._headers, timeout=self._timeout_s, stream=True) as response:
                if response.status_code == 404:
                    raise FhirUnavailable("not found (404)")
                if not response.ok:
                    raise FhirUnavailable(f"status {response.status_code}")
                raw = self._read_bounded(response, deadline)
        except requests.RequestException as exc:
            raise FhirUnavailable(f"request failed ({type(exc).__name__})") from exc
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise FhirUnavailable("response is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise FhirUnavailable("response is not a FHIR resource")
        return body

    def _read_bounded(self, response: Response, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise FhirUnavailable("response too large")
        chunks: list[bytes] = []
        size = 0
        while True:
            # read1 returns after one socket read, so the deadline is checked between every arrival.
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self._max_bytes:
                raise FhirUnavailable("response too large")
            if time.monotonic() > deadline:
                raise FhirUnavailable("timed out")
            chunks.append(chunk)


def items(value: Any) -> list[Any]:
    """A JSON array member as a list; anything else (absent, null, an object, a number) as empty."""
    return value if isinstance(value, list) else []


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in items(bundle.get("link")):
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Entry resources of a Bundle, skipping ``search.mode = outcome`` entries and non-objects."""
    resources = []
    for entry in items(bundle.get("entry")):
        if not isinstance(entry, dict):
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        resource = entry.get("resource")
        if isinstance(resource, dict):
            resources.append(resource)
    return resources


def has_error_outcome(bundle: dict[str, Any]) -> bool:
    """Whether the Bundle reports an error (an OperationOutcome entry with an error or fatal issue).

    Servers often add informational outcomes to a search result; only errors mean the data are incomplete.
    """
    for entry in items(bundle.get("entry")):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome" \
                and is_error_outcome(resource):
            return True
    return False


def is_error_outcome(outcome: dict[str, Any]) -> bool:
    issues = items(outcome.get("issue"))
    return not issues or any(
        isinstance(issue, dict) and issue.get("severity") in ("error", "fatal") for issue in issues
    )

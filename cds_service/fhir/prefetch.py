"""Resolve each prefetch key: use what the client sent, else fetch it (CDS Hooks 2.0).

A key is fetched from ``fhirServer`` when it is absent, ``null``, an OperationOutcome, a Bundle that
reports an error, or a Bundle with a ``next`` link (only its first page was sent). When a key can be
neither used nor fetched the call fails with 412 (docs/service-contract.md §3).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote

from cds_service.errors import PreconditionFailed, ServiceError
from cds_service.fhir.client import (
    FhirClient,
    FhirUnavailable,
    bundle_resources,
    has_error_outcome,
    is_error_outcome,
    next_link,
)
from cds_service.fhir.hook_body import RawResource

log = logging.getLogger(__name__)


@dataclass
class RawRecord:
    """The patient's record per prefetch key, before any parsing: raw FHIR JSON, or resources a prefetched Bundle's
    decoding already read (cds_service/fhir/hook_body.py)."""

    resources: dict[str, list[RawResource]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What could not be read completely (e.g. a search cut short at the page bound); cards repeat these."""
    fetched_keys: list[str] = field(default_factory=list)


def render_template(template: str, context: dict[str, Any]) -> str:
    """Substitute ``{{context.X}}`` tokens with URL-encoded context values."""
    rendered = template
    for name, value in context.items():
        if isinstance(value, str):
            rendered = rendered.replace("{{context." + name + "}}", quote(value, safe=""))
    return rendered


def resolve_prefetch(
    templates: tuple[tuple[str, str], ...],
    prefetch: dict[str, Any],
    context: dict[str, Any],
    client: FhirClient | None,
) -> RawRecord:
    """The record per prefetch key; keys to fetch are fetched concurrently, so a call missing all six waits for
    the slowest search rather than for their sum (benchmark case d)."""
    outcomes: dict[str, _Outcome] = {}
    to_fetch: list[tuple[str, str]] = []
    paginated = False
    # each key judged once: judging a Bundle reads all its entries, thousands for a long history
    usable = {key: value for key, _template in templates if _usable(value := prefetch.get(key))}
    for key, template in templates:
        value = usable.get(key)
        if value is not None:
            paginated = paginated or (value.get("resourceType") == "Bundle" and next_link(value) is not None)
        elif client is not None:
            to_fetch.append((key, render_template(template, context)))
    share = fallback_share(client.searches_in_flight, len(templates)) if client is not None else 0
    with _SLOTS.slot(client.tenant if client is not None and (to_fetch or paginated) else None, share):
        for key, _template in templates:
            value = usable.get(key)
            if value is not None:
                outcomes[key] = _guarded(partial(_resources_of, value, key, client))
            elif client is None:
                outcomes[key] = FhirUnavailable("")  # nothing was tried: the key alone is named
        if client is not None:
            outcomes.update(_fetch_all(client, to_fetch))
    record = RawRecord()
    fetched = {key for key, _url in to_fetch}
    unavailable: list[str] = []
    for key, _template in templates:
        outcome = outcomes[key]
        if isinstance(outcome, FhirUnavailable):
            # Why goes to the log only: the caller chose the URL, and a 412 that told it "connection refused"
            # or "status 404" would make the service a scanner of the networks it can reach.
            if str(outcome):
                log.warning("FHIR fallback failed", extra={"reason": f"{key}: {outcome}"})
            unavailable.append(key)
            continue
        record.resources[key], notes = outcome
        record.notes.extend(notes)
        if key in fetched:
            record.fetched_keys.append(key)
    if unavailable:
        how = ("and no fhirServer to fetch them from" if client is None
               else "and they could not be obtained from the FHIR server")
        raise PreconditionFailed(
            f"prefetch data missing or incomplete: {', '.join(unavailable)}; {how}"
        )
    return record


_Fetched = tuple[list[RawResource], list[str]]
"""A key's resources, and notes on what they may lack."""
_Outcome = _Fetched | FhirUnavailable


def _guarded(read: Callable[[], _Fetched]) -> _Outcome:
    try:
        return read()
    except FhirUnavailable as exc:
        return exc


class FallbackBusy(ServiceError):
    """The caller already has its share of this worker's threads reading from FHIR servers."""

    status = 429
    issue_code = "transient"


class _FallbackSlots:
    """How many calls of each client (JWT issuer) are reading from a FHIR server in this process: at most
    :data:`fallback_share` each. A stalled FHIR server holds its calls' request threads until the deadline;
    without a share one client's calls against it took every thread of a worker, and every other client's
    calls — prefetch-only ones too — waited seconds behind them. Beyond its share a call is refused at once
    (429), never queued: a queued call would hold a thread too."""

    def __init__(self) -> None:
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, tenant: str | None, share: int) -> Iterator[None]:
        if tenant is None:  # nothing to fetch
            yield
            return
        with self._lock:
            if self._busy.get(tenant, 0) >= share:
                raise FallbackBusy("too many calls of this client are already reading from its FHIR server in "
                                   "this worker; retry shortly (or send the prefetch)")
            self._busy[tenant] = self._busy.get(tenant, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[tenant] -= 1
                if not self._busy[tenant]:
                    del self._busy[tenant]

    def forget(self) -> None:
        self._busy, self._lock = {}, threading.Lock()


def fallback_share(searches_in_flight: int, searches_per_call: int) -> int:
    """The request threads of a worker (``CDS_THREADS``: the searches it can have in flight, over each call's)
    one client's FHIR fallback calls may hold: half, so that the other half always answers the other clients."""
    return max(1, searches_in_flight // searches_per_call // 2)


_SLOTS = _FallbackSlots()
os.register_at_fork(after_in_child=_SLOTS.forget)


class _Fetchers:
    """The threads that run the searches of every call of this process: made on first use (in the worker
    gunicorn forked, never in the parent), kept for the next calls, and bounded — one per search the worker can
    have in flight (:attr:`FhirClient.searches_in_flight`): fewer would queue one call's searches behind
    another's and cap FHIR-fallback concurrency silently — instead of a new pool of threads per call."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self, size: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="fhir-fetch")
            return self._executor

    def forget(self) -> None:
        """In a new child process: the parent's threads do not exist there."""
        self._executor = None
        self._lock = threading.Lock()


_FETCHERS = _Fetchers()
os.register_at_fork(after_in_child=_FETCHERS.forget)


def _fetch_all(client: FhirClient, to_fetch: list[tuple[str, str]]) -> dict[str, _Outcome]:
    if len(to_fetch) <= 1:
        return {key: _guarded(partial(_fetch, client, url, key)) for key, url in to_fetch}
    executor = _FETCHERS.executor(client.searches_in_flight)
    futures = {key: executor.submit(_guarded, partial(_fetch, client, url, key)) for key, url in to_fetch}
    # The call's deadline bounds the wait too: a search still queued behind other calls' searches then fails
    # like one the server did not answer in time (and, run later, stops at its first request).
    wait(futures.values(), timeout=client.time_left())
    outcomes: dict[str, _Outcome] = {}
    for key, future in futures.items():
        if future.done():
            outcomes[key] = future.result()
        else:
            future.cancel()
            outcomes[key] = FhirUnavailable("timed out")
    return outcomes


def _usable(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if value.get("resourceType") == "OperationOutcome":
        return False
    if value.get("resourceType") == "Bundle":
        return not has_error_outcome(value)
    return True


def _resources_of(value: dict[str, Any], key: str, client: FhirClient | None, fetched: bool = False) -> _Fetched:
    """A prefetched (or, ``fetched``, a fallback-read) value's resources; a Bundle the server paginated, and
    every Bundle the fallback read, within the fallback's page and entry bounds."""
    if value.get("resourceType") != "Bundle":
        return [value], []
    if next_link(value) is None and not fetched:
        return bundle_resources(value), []
    if client is None:
        raise FhirUnavailable("only the first page was prefetched")
    resources, cut_short = client.entries_following_pages(value)
    notes = [f"{key}: more pages than the service reads; older history may be missing"] if cut_short else []
    return resources, notes


def _fetch(client: FhirClient, relative_url: str, key: str) -> _Fetched:
    # A 404, for the context patient or a search, fails like any other answer: the data cannot be obtained,
    # and an empty record would read as "no benzodiazepine history" (docs/service-contract.md §9).
    result = client.get(relative_url)
    if result.get("resourceType") == "OperationOutcome":
        if is_error_outcome(result):
            raise FhirUnavailable("the server answered with an OperationOutcome")
        return [], []
    return _resources_of(result, key, client, fetched=True)

"""A small FHIR R4 REST client for the fallback fetch (CDS Hooks 2.0), bounded against a hostile server.

``fhirServer`` comes from the caller, so every outbound request is checked as if an attacker chose it:

- **One deadline per call**: every request of the call — all prefetch keys, every page — must finish within
  ``CDS_FHIR_TIMEOUT_S`` of the first one. Per-read socket timeouts cannot bound a server that drips its
  headers or body a byte at a time, so at the deadline the call's sockets are shut down from a timer.
- **Where it may connect**: ``http``/``https`` only, no user-info; when ``CDS_FHIR_ALLOWED`` or the caller's
  entry in the trust file lists FHIR servers, ``fhirServer`` must be under one of them; otherwise only
  public addresses are reached (loopback too in development). The address is checked on the connected
  socket, so decimal or hex IP spellings, DNS names resolving to private ranges and DNS rebinding are all
  caught.
- **No redirects**, and ``next`` links only under the base URL (no ``..`` segments): the bearer token goes
  nowhere else.
- **At most** ``max_requests`` requests per call (every prefetch key with all its pages), and ``max_bytes``
  per response.

Failures raise :class:`FhirUnavailable`; its text is logged, never returned to the caller (the 412 says
only which data could not be obtained — not whether a port is open or what a host answered).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from requests import Response
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from cds_service.metrics import FHIR_CALLS, FHIR_LATENCY

MAX_RESPONSE_BYTES = 20 * 1024 * 1024
"""Largest FHIR response read (a Bundle page); beyond it the fetch fails instead of exhausting memory."""


class FhirUnavailable(Exception):
    """The FHIR server could not give us what we asked for (refused, timeout, error status, not JSON)."""


@dataclass(frozen=True)
class FhirAccess:
    """Where fallback reads may go for one call."""

    allowed: tuple[str, ...] = ()
    """URL prefixes (``CDS_FHIR_ALLOWED`` and the caller's ``fhir_servers``); when any, the only ones, and
    trusted whatever their address."""
    allow_loopback: bool = False
    """Development: a FHIR server on this machine (the demo server) may be used without listing it."""

    def check_base(self, url: str) -> bool:
        """Raise :class:`FhirUnavailable` for a base URL the service must not call; ``True`` when it is
        allow-listed (its address needs no check)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FhirUnavailable("fhirServer is not an http(s) URL")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise FhirUnavailable("fhirServer carries user-info")
        if self.allowed:
            if not any(_is_under(url, prefix) for prefix in self.allowed):
                raise FhirUnavailable("fhirServer is not on the allow-list")
            return True
        return False

    def check_address(self, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_global or (self.allow_loopback and ip.is_loopback):
            return
        raise FhirUnavailable("fhirServer resolves to a non-public address")


def _is_under(url: str, base: str) -> bool:
    """``url`` is ``base`` or below it: same scheme and host, path at a segment boundary, no dot segments."""
    target, root = urlsplit(url), urlsplit(base.rstrip("/"))
    if (target.scheme, target.netloc.lower()) != (root.scheme, root.netloc.lower()):
        return False
    segments = unquote(target.path).split("/")
    if any(segment in (".", "..") for segment in segments) or "\\" in unquote(target.path):
        return False
    return target.path == root.path or target.path.startswith(root.path + "/") or (
        target.path in ("", "/") and root.path == "")


class _CallGuard:
    """The sockets, request count and deadline of one call."""

    def __init__(self, access: FhirAccess, trusted: bool, timeout_s: float, max_requests: int) -> None:
        self.access, self.trusted = access, trusted
        self.timeout_s, self.max_requests = timeout_s, max_requests
        self.deadline: float | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._requests = 0
        self._timer: threading.Timer | None = None
        self._expired = False

    def begin_request(self) -> float:
        """Count a request; the time it may still take."""
        with self._lock:
            if self.deadline is None:
                self.deadline = time.monotonic() + self.timeout_s
                self._timer = threading.Timer(self.timeout_s, self.expire)
                self._timer.daemon = True
                self._timer.start()
            self._requests += 1
            if self._requests > self.max_requests:
                raise FhirUnavailable("too many requests for one call")
            remaining = self.deadline - time.monotonic()
        if remaining <= 0 or self._expired:
            raise FhirUnavailable("timed out")
        return remaining

    def admit(self, sock: socket.socket) -> socket.socket:
        """A new connection: only to an allowed address, and shut down at the deadline."""
        try:
            if not self.trusted:
                self.access.check_address(str(sock.getpeername()[0]))
        except (FhirUnavailable, OSError, ValueError):
            sock.close()
            raise
        with self._lock:
            if self._expired:
                sock.close()
                raise FhirUnavailable("timed out")
            self._sockets.append(sock)
        return sock

    def expire(self) -> None:
        with self._lock:
            self._expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on a dripping server
            except OSError:
                pass

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.expire()


def _guarded_pools(guard: _CallGuard) -> dict[str, type[HTTPConnectionPool]]:
    class Connection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return guard.admit(super()._new_conn())

    class SecureConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return guard.admit(super()._new_conn())

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    return {"http": Pool, "https": SecurePool}


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, guard: _CallGuard) -> None:
        self._guard = guard
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self._guard)


class FhirClient:
    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None,
        timeout_s: float,
        max_pages: int,
        access: FhirAccess | None = None,
        max_requests: int,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._max_bytes = max_bytes
        self.base_url = base_url.rstrip("/")
        self._max_pages = max_pages
        self._access = access or FhirAccess()
        self._refused: FhirUnavailable | None = None
        try:
            trusted = self._access.check_base(self.base_url)
        except FhirUnavailable as exc:
            self._refused, trusted = exc, False
        self._guard = _CallGuard(self._access, trusted, timeout_s, max_requests)
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or .netrc from the environment decides where a token goes
        adapter = _GuardedAdapter(self._guard)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._headers = {"Accept": "application/fhir+json"}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"

    def close(self) -> None:
        """End the call: stop the deadline timer and close every connection."""
        self._guard.close()
        self._session.close()

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
            if not _is_under(link, self.base_url):
                raise FhirUnavailable("a next link points outside the FHIR server's base URL")
            page = self._get_absolute(link)

    def _get_absolute(self, url: str) -> dict[str, Any]:
        """One GET within the call's deadline and request budget, bounded in size."""
        if self._refused is not None:
            raise self._refused
        started = time.monotonic()
        try:
            remaining = self._guard.begin_request()
            body = self._get_json(url, remaining)
        except FhirUnavailable:
            FHIR_CALLS.labels("failed").inc()
            raise
        finally:
            FHIR_LATENCY.observe(time.monotonic() - started)
        FHIR_CALLS.labels("ok").inc()
        return body

    def _get_json(self, url: str, remaining: float) -> dict[str, Any]:
        try:
            with self._session.get(url, headers=self._headers, timeout=remaining, stream=True,
                                   allow_redirects=False) as response:
                if response.is_redirect:
                    raise FhirUnavailable(f"redirect (status {response.status_code}) not followed")
                if not response.ok:
                    raise FhirUnavailable(f"status {response.status_code}")
                raw = self._read_bounded(response)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise FhirUnavailable(f"request failed ({type(exc).__name__})") from exc
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise FhirUnavailable("response is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise FhirUnavailable("response is not a FHIR resource")
        return body

    def _read_bounded(self, response: Response) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise FhirUnavailable("response too large")
        chunks: list[bytes] = []
        size = 0
        while True:
            # read1 returns after one socket read, so the deadline is checked between every arrival (and the
            # guard's timer ends a read that waits past it).
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                if self._guard.deadline is not None and time.monotonic() > self._guard.deadline:
                    raise FhirUnavailable("timed out")
                return b"".join(chunks)
            size += len(chunk)
            if size > self._max_bytes:
                raise FhirUnavailable("response too large")
            if self._guard.deadline is not None and time.monotonic() > self._guard.deadline:
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

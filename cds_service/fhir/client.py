"""A small FHIR R4 REST client for the fallback fetch (CDS Hooks 2.0), bounded against a hostile server.

``fhirServer`` comes from the caller, so every outbound request is checked as if an attacker chose it:

- **One deadline per call**: every request of the call — all prefetch keys, every page — must finish within
  ``CDS_FHIR_TIMEOUT_S`` of the first one. Per-read socket timeouts cannot bound a server that drips its
  headers or body a byte at a time, so at the deadline the sockets the call is using are shut down (by one
  thread per process that watches every call's deadline).
- **Where it may connect**: ``http``/``https`` only, no user-info; when ``CDS_FHIR_ALLOWED`` or the caller's
  entry in the trust file lists FHIR servers, ``fhirServer`` must be under one of them; otherwise only
  public addresses are reached (loopback too in development). For every new connection the address it would
  use is checked before connecting, and the connection goes to that very address, so decimal or hex IP
  spellings, DNS names resolving to private ranges and DNS rebinding are all caught, and not even a TCP
  handshake reaches a refused address.
- **No redirects**, and ``next`` links only under the base URL (no ``..`` segments): the bearer token goes
  nowhere else.
- **At most** ``max_requests`` requests per call (every prefetch key with all its pages), and ``max_bytes``
  per response (after decompression).
- **Keep-alive within a tenant only**: a worker process keeps idle connections per pool — one pool per
  tenant (the caller's JWT issuer, :attr:`FhirAccess.tenant`, with its allow-list) and FHIR base URL — and
  the next calls of that tenant to that server reuse them instead of opening a TCP (and TLS) connection per
  search. A kept connection only ever goes back to the host and port it was admitted for; the
  call's access token is a header of each request, never kept in a pool; pools are bounded (idle connections
  each, pools per process, idle time) and a process made by ``fork`` (gunicorn's workers) starts without any.

Failures raise :class:`FhirUnavailable`; its text is logged, never returned to the caller (the 412 says
only which data could not be obtained — not whether a port is open or what a host answered).

**Why ``http.client`` and not urllib3's pools** (measured 2026-12-04, 2 vCPUs, A/B interleaved): the same
guarantees on urllib3 2.8.0 — ``HTTPConnectionPool`` per tenant and server, a connection subclass that admits
the address it connects to, attaches itself to the calling thread's deadline and refuses reuse after
:data:`IDLE_TIMEOUT_S` (``is_connected``), ``retries=False``, ``redirect=False``, ``decode_content=False``
under the same bounded read — passed every hostile-server, TLS, connection-reuse and fork test, but cost
more CPU than the 10 % a fallback call may give up: in process the six searches of a call took 1.68–1.76 ms
against 1.08–1.15 ms here, and under gunicorn (``make bench`` (d), 100 resources) 6.22–6.46 ms of worker CPU
a call against 5.17–5.22 ms (+22 %). The difference is what ``urlopen`` does per request that this client
need not: parsing and re-encoding the target (``parse_url``, about 25 µs for the Observation search), copying
the headers into an ``HTTPHeaderDict`` (about 16 µs), a ``Retry`` and a ``Timeout`` object, and its response
wrapper. Going below ``urlopen`` (``_get_conn``/``_put_conn``) would save part of it through urllib3's private
API, which is not the well-kept interface the change was for.
"""

from __future__ import annotations

import heapq
import http.client
import ipaddress
import os
import select
import socket
import ssl
import threading
import time
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from cds_service.clinical.resources import Resource
from cds_service.fhir.hook_body import RawResource
from cds_service.metrics import FHIR_CALLS, FHIR_LATENCY

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
"""Largest FHIR response read (a Bundle page, after decompression): no more than a whole hook request may
carry (its body limit); beyond it the search fails instead of exhausting memory."""
MAX_CALL_BYTES = 4 * 1024 * 1024
"""The responses one call reads beyond each key's first answer (every key, every page, first answers
included in the count): a worker's memory and CPU for one call stay bounded (README "Security": under 256 MB
and 1 s of CPU) whatever the server sends. Each key's first answer is read whatever the others took — the
keys are searched at once, and which came first must not decide whether a key can be had at all — so a call
reads at most six first answers of :data:`MAX_RESPONSE_BYTES` or this budget, whichever is more; a later
page beyond it ends its key's search there (said on the cards)."""
MAX_ENTRIES_PER_PAGE = 1_000
MAX_ENTRIES_PER_KEY = 3_000
MAX_ENTRIES_PER_CALL = 6_000
"""Entries read from the fallback's search results (per page, per prefetch key, per call); beyond, the search
stops early — no further page is asked for — and the cards say the record may be incomplete."""
MAX_POOLS = 64
"""Pools (tenant × FHIR server) a process keeps; beyond, the least recently used one is closed."""
IDLE_TIMEOUT_S = 4.0
"""An idle connection is reused only this long: below the shortest keep-alive timeout common servers use
(Apache httpd's 5 s), so that a server seldom closes a connection just as it is reused (when it does, the
request is sent once more on a new connection)."""
_TLS = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH)
"""Certificates and host names verified against the CA bundle ``requests`` uses (certifi's)."""


class FhirUnavailable(Exception):
    """The FHIR server could not give us what we asked for (refused, timeout, error status, not JSON)."""


class BudgetSpent(FhirUnavailable):
    """The call has read all the bytes it may (:data:`MAX_CALL_BYTES`)."""


@dataclass(frozen=True)
class FhirAccess:
    """Where fallback reads may go for one call."""

    allowed: tuple[str, ...] = ()
    """URL prefixes (``CDS_FHIR_ALLOWED`` and the caller's ``fhir_servers``); when any, the only ones, and
    trusted whatever their address."""
    allow_loopback: bool = False
    """Development: a FHIR server on this machine (the demo server) may be used without listing it."""
    tenant: str = ""
    """The caller's JWT issuer: connections are kept for reuse by the same tenant only."""

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
                raise FhirUnavailable("fhirServer is not on the allow-list (CDS_FHIR_ALLOWED, or the issuer's "
                                      "fhir_servers in the trust file)")
            return True
        return False

    def check_address(self, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        if self.allow_loopback and (ip.is_loopback or (mapped is not None and mapped.is_loopback)):
            return
        if not is_public_address(ip):
            raise FhirUnavailable("fhirServer resolves to a non-public address; list its base URL in "
                                  "CDS_FHIR_ALLOWED (or the issuer's fhir_servers in the trust file) to allow it")


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052 well-known NAT64 prefix: a DNS64 network answers every IPv4-only name with it, and its NAT64
gateway connects to the IPv4 address in the last 32 bits — the metadata address too."""
_NOT_PUBLIC_V6 = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # RFC 8215 local-use NAT64: where the IPv4 address sits varies
    ipaddress.IPv6Network("fec0::/10"),  # deprecated site-local (RFC 3879): still routed inside some networks
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (RFC 4291 §2.5.5.1, deprecated since 2006: no server has
    # one, and systems deliver it differently)
)
_NOT_PUBLIC_V4 = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments (RFC 6890): 192.0.0.8 and the DS-Lite
    # and NAT64 discovery addresses, none a FHIR server
    ipaddress.IPv4Network("224.0.0.0/3"),  # multicast and reserved: not a server's unicast address
)


_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and is delivered to: IPv4-mapped ``::ffff:a.b.c.d``,
    NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::`` and Teredo's client."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` — and any IPv4 address embedded in it — is a public unicast address.

    Python's ``is_global`` alone passes NAT64, IPv4-compatible, 6to4 and site-local addresses (and 192.0.0.8);
    through any of these a private or link-local IPv4 address (the cloud metadata service) can be reached.
    IPv4-compatible, local-use NAT64 and site-local addresses are refused whatever they carry.
    """
    embedded = _embedded_ipv4(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        # 6to4 is judged by the IPv4 address it carries alone: Python 3.13's is_global is False for all of
        # 2002::/16 (3.11 and 3.12 said True), and the answer must not change with the interpreter.
        if any(ip in network for network in _NOT_PUBLIC_V6) or (not ip.is_global and ip not in _SIX_TO_FOUR):
            return False
        if embedded is None:
            return True
    assert embedded is not None
    return embedded.is_global and not any(embedded in network for network in _NOT_PUBLIC_V4)


def _is_under(url: str, base: str) -> bool:
    """``url`` is ``base`` or below it: same scheme and host, path at a segment boundary, no dot segments —
    however the server might read them: percent-decoded any number of times (``%252e%252e``), with a
    path parameter (``..;`` — Tomcat and Jetty read ``/fhir/..;/admin`` as ``/admin``) or a backslash."""
    target, root = urlsplit(url), urlsplit(base.rstrip("/"))
    if (target.scheme, target.netloc.lower()) != (root.scheme, root.netloc.lower()):
        return False
    decoded = target.path
    for _ in range(4):
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
    else:
        return False  # still encoded after four rounds: no server is meant to read that
    if any(segment.split(";", 1)[0] in (".", "..") for segment in decoded.split("/")) or "\\" in decoded:
        return False
    return target.path == root.path or target.path.startswith(root.path + "/") or (
        target.path in ("", "/") and root.path == "")


class _Connection(http.client.HTTPConnection):
    """An HTTP connection that connects only to addresses ``admit`` lets through."""

    def __init__(self, host: str, port: int, admit: _Admit) -> None:
        super().__init__(host, port)
        self._admit = admit
        self._socket: socket.socket | None = None
        """The connection's socket, kept even when http.client lets the response own it (``Connection:
        close``), so that :meth:`abort` still reaches it."""

    def connect(self) -> None:
        error: OSError = OSError(f"{self.host} has no address")
        for family, kind, proto, _name, address in socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM):
            # Checked before connecting, and the address checked is the one connected to: nothing — not even a
            # TCP handshake — reaches an address the call may not use, and a second DNS answer cannot differ.
            self._admit(str(address[0]))
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            self.sock = self._socket = sock
            return
        raise error

    def abort(self) -> None:
        """Wake any read or write blocked on the connection (a dripping server); it is not reusable after."""
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _SecureConnection(_Connection):
    def connect(self) -> None:
        super().connect()
        # The handshake runs on the connection's socket, so the call's deadline can shut it down too.
        self.sock = self._socket = _TLS.wrap_socket(self.sock, server_hostname=self.host,
                                                    do_handshake_on_connect=False)
        self.sock.do_handshake()


class _Admit:
    """The address check of every new connection of a pool: allow-listed servers are trusted whatever their
    address; others must be public (or loopback in development)."""

    def __init__(self, access: FhirAccess, trusted: bool) -> None:
        self._access, self._trusted = access, trusted

    def __call__(self, address: str) -> None:
        if not self._trusted:
            try:
                self._access.check_address(address)
            except ValueError as exc:
                raise FhirUnavailable("fhirServer address not understood") from exc


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle connection with something to read has been closed (or spoken on) by the server: not reusable."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


class _Pool:
    """Idle keep-alive connections of one tenant to one FHIR server, in this process."""

    def __init__(self, base_url: str, admit: _Admit, max_idle: int) -> None:
        parts = urlsplit(base_url)
        self._secure = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._secure else 80)
        self._admit = admit
        self._idle: deque[tuple[float, _Connection]] = deque()
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> tuple[_Connection, bool]:
        """The most recently used idle connection that is still open (``True``: reused), else a new one, which
        connects — and is admitted — on its first request."""
        while True:
            with self._lock:
                since, conn = self._idle.pop() if self._idle else (0.0, None)
            if conn is None:
                break
            if time.monotonic() - since < IDLE_TIMEOUT_S and not _closed_by_peer(conn):
                return conn, True
            conn.close()
        return self.new(), False

    def new(self) -> _Connection:
        connection = _SecureConnection if self._secure else _Connection
        return connection(self._host, self._port, self._admit)

    def give_back(self, conn: _Connection) -> None:
        """Keep ``conn`` (its response read to the end) for the next request, within the bounds."""
        now = time.monotonic()
        expired: list[_Connection] = []
        with self._lock:
            while self._idle and now - self._idle[0][0] >= IDLE_TIMEOUT_S:
                expired.append(self._idle.popleft()[1])
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append((now, conn))
            else:
                expired.append(conn)
        for old in expired:
            old.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
        for _since, conn in idle:
            conn.close()


class _Pools:
    """This process's pools, by who calls (:class:`FhirAccess`: tenant and allow-list) and where (base URL)."""

    def __init__(self) -> None:
        self._pools: OrderedDict[tuple[FhirAccess, str], _Pool] = OrderedDict()
        self._lock = threading.Lock()

    def pool(self, access: FhirAccess, base_url: str, trusted: bool, max_idle: int) -> _Pool:
        key = (access, base_url)
        evicted = None
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _Pool(base_url, _Admit(access, trusted), max_idle)
                if len(self._pools) > MAX_POOLS:
                    evicted = self._pools.popitem(last=False)[1]
            else:
                self._pools.move_to_end(key)
        if evicted is not None:
            evicted.close()
        return pool

    def forget(self) -> None:
        """In a new child process: the parent's connections are the parent's (their sockets are closed here
        when collected, which leaves the parent's open)."""
        self._pools = OrderedDict()
        self._lock = threading.Lock()


_POOLS = _Pools()
os.register_at_fork(after_in_child=_POOLS.forget)


class _Deadlines:
    """One thread per process that expires each call at its deadline (a timer thread per call cost a thread's
    start and end on every fallback call)."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _CallGuard]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, guard: _CallGuard, deadline: float) -> None:
        with self._wake:
            heapq.heappush(self._due, (deadline, id(guard), guard))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fhir-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][2] is guard:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                guard = heapq.heappop(self._due)[2]
            guard.expire()  # a call already closed has nothing left to shut down

    def forget(self) -> None:
        """In a new child process: the parent's thread does not exist there."""
        self._due, self._wake, self._thread = [], threading.Condition(), None


_DEADLINES = _Deadlines()
os.register_at_fork(after_in_child=_DEADLINES.forget)


class _CallGuard:
    """The request count and deadline of one call, and the connections it is using."""

    def __init__(self, timeout_s: float, max_requests: int) -> None:
        self.timeout_s, self.max_requests = timeout_s, max_requests
        self.deadline: float | None = None
        self._lock = threading.Lock()
        self._in_use: set[_Connection] = set()
        self._requests = 0
        self._bytes = 0
        self._entries = 0
        self.expired = False

    def spend_bytes(self, count: int, *, first: bool) -> None:
        """Count ``count`` bytes read; past the call's budget, :class:`BudgetSpent` for a later page (several
        searches of the call read at once: each chunk is counted as it comes, so together they cannot
        overshoot). A key's ``first`` answer is counted, never refused."""
        with self._lock:
            self._bytes += count
            if self._bytes > MAX_CALL_BYTES and not first:
                raise BudgetSpent("the call's byte budget is spent")

    def take_entries(self, wanted: int, *, first: bool) -> int:
        """How many of ``wanted`` entries the call may still read (and counts them); a key's ``first`` page
        has all it asks for (``wanted`` is within the page bound), like its first answer's bytes."""
        with self._lock:
            granted = wanted if first else max(0, min(wanted, MAX_ENTRIES_PER_CALL - self._entries))
            self._entries += granted
            return granted

    def spent(self) -> bool:
        with self._lock:
            return self._entries >= MAX_ENTRIES_PER_CALL or self._bytes >= MAX_CALL_BYTES

    def start(self) -> float:
        """The call's deadline (``time.monotonic()``), started by its first request."""
        with self._lock:
            if self.deadline is None:
                self.deadline = time.monotonic() + self.timeout_s
                _DEADLINES.watch(self, self.deadline)
            return self.deadline

    def begin_request(self) -> None:
        """Count a request: refused beyond the call's budget of requests or past its deadline."""
        deadline = self.start()
        with self._lock:
            self._requests += 1
            if self._requests > self.max_requests:
                raise FhirUnavailable("too many requests for one call")
        if time.monotonic() >= deadline or self.expired:
            raise FhirUnavailable("timed out")

    def attach(self, conn: _Connection) -> None:
        """``conn`` serves this call until :meth:`detach`: shut down if the deadline passes meanwhile."""
        with self._lock:
            if self.expired:
                raise FhirUnavailable("timed out")
            self._in_use.add(conn)

    def detach(self, conn: _Connection) -> bool:
        """Whether ``conn`` is still fit for reuse: the deadline did not shut it down."""
        with self._lock:
            self._in_use.discard(conn)
            return not self.expired

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            in_use, self._in_use = self._in_use, set()
        for conn in in_use:
            conn.abort()


class _Stale(Exception):
    """A kept-alive connection turned out closed by the server before it answered."""


class FhirClient:
    """One call's reads from its ``fhirServer``; :meth:`close` when the call is done with it."""

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None,
        timeout_s: float,
        max_pages: int,
        access: FhirAccess | None = None,
        max_requests: int,
        searches_in_flight: int,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._max_bytes = max_bytes
        self.searches_in_flight = searches_in_flight
        """The searches this worker process can have in flight (all of each request thread's): the fetch threads
        are as many, and so are the idle connections a pool keeps (others are closed when their request ends)."""
        self.base_url = base_url.rstrip("/")
        self._max_pages = max_pages
        access = access or FhirAccess()
        self.tenant = access.tenant
        self._refused: FhirUnavailable | None = None
        self._pool: _Pool | None = None
        try:
            self._pool = _POOLS.pool(access, self.base_url, access.check_base(self.base_url), searches_in_flight)
        except FhirUnavailable as exc:
            self._refused = exc
        self._guard = _CallGuard(timeout_s, max_requests)
        # This call's headers: the access token is sent with this call's requests only, never kept in a pool.
        self._headers = {"Accept": "application/fhir+json", "Accept-Encoding": "gzip", "User-Agent": "bzd-taper-cds"}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"

    def close(self) -> None:
        """End the call: any connection still in use (a search the call no longer waits for) is shut down."""
        self._guard.expire()

    def time_left(self) -> float:
        """Seconds left before the call's deadline (which starts now if no request has yet)."""
        return self._guard.start() - time.monotonic()

    def get(self, relative_url: str) -> dict[str, Any]:
        """GET ``{fhirServer}/{relative_url}`` and return the JSON resource."""
        return self._get_absolute(f"{self.base_url}/{relative_url.lstrip('/')}", first=True)

    def entries_following_pages(self, bundle: dict[str, Any]) -> tuple[list[RawResource], bool]:
        """The entry resources of ``bundle`` and of its ``next`` pages, within the page and entry bounds
        (:data:`MAX_ENTRIES_PER_PAGE`, :data:`MAX_ENTRIES_PER_KEY`, :data:`MAX_ENTRIES_PER_CALL`) and the call's
        byte budget; the flag says a bound cut it short. It stops at the bound: no further page is asked for."""
        resources: list[RawResource] = []
        page, pages = bundle, 1
        while True:
            entries = bundle_resources(page)
            room = min(MAX_ENTRIES_PER_PAGE, MAX_ENTRIES_PER_KEY - len(resources))
            granted = self._guard.take_entries(min(len(entries), room), first=pages == 1)
            resources.extend(entries[:granted])
            link = next_link(page)
            if granted < len(entries):
                return resources, True
            if link is None:
                return resources, False
            if pages >= self._max_pages or len(resources) >= MAX_ENTRIES_PER_KEY or self._guard.spent():
                return resources, True
            if not _is_under(link, self.base_url):
                raise FhirUnavailable("a next link points outside the FHIR server's base URL")
            try:
                page = self._get_absolute(link, first=False)
            except BudgetSpent:
                return resources, True
            pages += 1

    def _get_absolute(self, url: str, *, first: bool) -> dict[str, Any]:
        """One GET within the call's deadline and request budget, bounded in size."""
        if self._pool is None:
            raise self._refused or FhirUnavailable("fhirServer refused")
        started = time.monotonic()
        try:
            self._guard.begin_request()
            body = self._get_json(self._pool, url, first)
        except FhirUnavailable:
            FHIR_CALLS.labels("failed").inc()
            raise
        finally:
            FHIR_LATENCY.observe(time.monotonic() - started)
        FHIR_CALLS.labels("ok").inc()
        return body

    def _get_json(self, pool: _Pool, url: str, first: bool) -> dict[str, Any]:
        parts = urlsplit(url)  # under the base URL: the pool's scheme, host and port
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn, reused = pool.take()
        try:
            raw = self._exchange(pool, conn, target, reused, first)
        except _Stale:
            raw = self._exchange(pool, pool.new(), target, False, first)
        try:
            body = orjson.loads(raw)  # refuses NaN, invalid UTF-8, lone surrogates and nesting deeper than 1,024
        except orjson.JSONDecodeError as exc:
            raise FhirUnavailable("response is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise FhirUnavailable("response is not a FHIR resource")
        return body

    def _exchange(self, pool: _Pool, conn: _Connection, target: str, reused: bool, first: bool) -> bytes:
        """One request and its whole response on ``conn``, which goes back to the pool only when it is reusable."""
        self._guard.attach(conn)
        reusable = False
        response: http.client.HTTPResponse | None = None
        try:
            remaining = self.time_left()
            if remaining <= 0:
                raise FhirUnavailable("timed out")
            if conn.sock is None:
                conn.timeout = remaining
            else:
                conn.sock.settimeout(remaining)
            try:
                conn.request("GET", target, headers=self._headers)
                if self._guard.expired:  # it expired while this connection was being made
                    raise FhirUnavailable("timed out")
                response = conn.getresponse()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
                if reused and not self._guard.expired:
                    raise _Stale from exc
                raise
            if 300 <= response.status < 400:
                raise FhirUnavailable(f"redirect (status {response.status}) not followed")
            if not 200 <= response.status < 300:
                raise FhirUnavailable(f"status {response.status}")
            raw = self._read_bounded(response, first)
            reusable = not response.will_close
            return raw
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if isinstance(exc, TimeoutError) or self._guard.expired:  # a socket timeout, or the deadline's shutdown
                raise FhirUnavailable("timed out") from exc
            raise FhirUnavailable(f"request failed ({type(exc).__name__})") from exc
        finally:
            if self._guard.detach(conn) and reusable:
                pool.give_back(conn)
            else:
                if response is not None:
                    response.close()  # with "Connection: close" the response, not the connection, owns the socket
                conn.close()

    def _read_bounded(self, response: http.client.HTTPResponse, first: bool) -> bytes:
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise FhirUnavailable("response too large")
        encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            raise FhirUnavailable("response in an encoding not asked for")
        inflate = zlib.decompressobj(wbits=31) if encoding == "gzip" else None
        deadline = self._guard.start()
        chunks: list[bytes] = []
        size = 0
        # Each read waits at most for the rest of the call's time, and the deadline thread ends one that waits
        # past the deadline; a response that ends by the deadline is read to its end (the connection is reusable).
        while chunk := response.read(64 * 1024):
            if inflate is not None:
                chunk = inflate.decompress(chunk, self._max_bytes - size + 1)
            size += len(chunk)
            if size > self._max_bytes:
                raise FhirUnavailable("response too large")
            self._guard.spend_bytes(len(chunk), first=first)
            if time.monotonic() > deadline:
                raise FhirUnavailable("timed out")
            chunks.append(chunk)
        if time.monotonic() > deadline or self._guard.expired:
            raise FhirUnavailable("timed out")
        return b"".join(chunks)


def items(value: Any) -> list[Any]:
    """A JSON array member as a list; anything else (absent, null, an object, a number) as empty."""
    return value if isinstance(value, list) else []


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in items(bundle.get("link")):
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


_RESOURCE = (dict, Resource)
"""What an entry's resource may be (a tuple: ``dict | Resource`` would build a union for every entry)."""


def bundle_resources(bundle: dict[str, Any]) -> list[RawResource]:
    """Entry resources of a Bundle, skipping ``search.mode = outcome`` entries and non-objects."""
    resources: list[RawResource] = []
    for entry in items(bundle.get("entry")):
        if not isinstance(entry, dict):
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        resource = entry.get("resource")
        if isinstance(resource, _RESOURCE):
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

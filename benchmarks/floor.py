"""The fixed costs of a hook call and the cheaper designs tried for each: ``.venv/bin/python benchmarks/floor.py``
(about 2 minutes; ``FLOOR_PARTS=jwt,web,replay,body`` chooses parts).

Every figure is thread CPU (``time.thread_time``) per call, in process, the median of ``BENCH_ROUNDS`` rounds
(default 7) — on a shared machine it moves far less than wall time — printed with the 1-minute load average.

- **jwt**: verifying the ES384 client token of ``make bench`` (``benchmarks/calls.py``), the replay INSERT left
  out: the service's path, OpenSSL's P-384 verification alone, and prototypes around it — PyJWT with the checks
  the service repeats switched off, one parse with the signature checked by PyJWT's algorithm object, a parse on
  the standard library with ``cryptography`` directly, and other JOSE libraries (joserfc, jwcrypto) when
  importable, and pycryptodome's own P-384 verification: they are not dependencies of the service; to measure
  them, install them into a scratch venv and name its site-packages in ``FLOOR_EXTRA_SITE``.
- **web**: the (c-100) body POSTed (a WSGI environ, no HTTP) to a view that only orjson-parses it — the payload
  ceiling's work — as a bare WSGI function, on werkzeug's request and response, as the ceiling's Flask app, and
  as the service's app (the client JWT stubbed) with its request hooks switched off one at a time; at WARNING as
  ``make bench`` runs, and at INFO, the default; then the Prometheus calls of a hook call.
- **body**: the (c-100) body parsed by orjson, msgspec and the standard library.
- **replay**: the replay store's INSERT on SQLite — the service's path, the statement without the pool and the
  writers' queue, on one kept connection, as ``INSERT OR IGNORE``, on an in-memory table (which workers could
  not share), and after another connection's write, as the card log's between two calls; then, when Debian's
  ``postgresql`` package is installed, on a throwaway local cluster: the service's path, the statement with its
  COMMIT and autocommitted on one kept connection, and one round trip.
"""

from __future__ import annotations

import binascii
import gc
import io
import json
import logging
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if os.environ.get("FLOOR_EXTRA_SITE"):
    sys.path.append(os.environ["FLOOR_EXTRA_SITE"])

from benchmarks.calls import ISSUER, KID, ORDER_SIGN, Issuer, order_sign, production_environment

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
CALLS = int(os.environ.get("BENCH_CALLS", "300"))
AUDIENCE = "http://127.0.0.1:8080" + ORDER_SIGN
Timed = Callable[[Any], object]


def per_call(function: Timed, inputs: list[Any]) -> tuple[float, list[float]]:
    """Median thread CPU per call (ms) of ``function`` over ``inputs``, and the rounds. The heap is frozen first,
    as ``deploy/gunicorn.conf.py`` freezes it before the workers fork: without it, full collections walking the
    app's import-time objects come every other round and double its figure."""
    for one in inputs[:20]:
        function(one)  # warm
    gc.collect()
    gc.freeze()
    rounds = []
    for _ in range(ROUNDS):
        started = time.thread_time()
        for one in inputs:
            function(one)
        rounds.append((time.thread_time() - started) * 1000 / len(inputs))
    return statistics.median(rounds), rounds


def report(title: str, rows: Iterable[tuple[str, Timed, list[Any]]], base: str | None = None) -> dict[str, float]:
    print(f"\n{title} — thread CPU per call, median of {ROUNDS} rounds")
    results: dict[str, float] = {}
    for name, function, inputs in rows:
        ms, rounds = per_call(function, inputs)
        results[name] = ms
        against = f"  {ms - results[base]:+.3f}" if base in results and name != base else ""
        print(f"  {name:72} {ms:6.3f} ms{against:9}  load {os.getloadavg()[0]:5.2f}  "
              f"(rounds {' '.join(f'{r:.3f}' for r in rounds)})")
    return results


# --- jwt ---------------------------------------------------------------------------------------------------------

_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64url(segment: bytes) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): the alphabet by a regular expression, the rest by
    binascii's strict mode. A prototype only: the service parses with PyJWT."""
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    return binascii.a2b_base64(segment.translate(_URLSAFE) + b"=" * (-len(segment) % 4), strict_mode=True)


def jwt_part() -> None:
    from cds_service.security.jwt_auth import TrustedIssuers, _check_claims_shape, verify_client_jwt

    issuer = Issuer()
    work = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    trust_file = issuer.trust_file(work / "trust.json")
    trusted = TrustedIssuers.from_file(trust_file)
    key = trusted.issuers[ISSUER].key(KID)
    assert key is not None
    public_key = issuer.key.public_key()
    tokens = issuer.tokens([AUDIENCE] * CALLS)
    audiences = [AUDIENCE]

    def service(token: str) -> object:
        return verify_client_jwt("Bearer " + token, audiences, trusted, lambda *_: True, refuse_published_keys=True)

    def three_parses(token: str) -> object:
        # The path until this benchmark: an unverified parse to choose the key, the shape check, ``jwt.decode``
        # (a second parse, the signature, PyJWT's claims), the shape check again, and a third parse of the header
        # for the published-key check.
        unverified = jwt.decode_complete(token, options={"verify_signature": False})
        _check_claims_shape(unverified["payload"], audiences, 3600.0)
        claims = jwt.decode(token, key=key, algorithms=[unverified["header"]["alg"]], audience=audiences,
                            issuer=ISSUER, leeway=60, options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        _check_claims_shape(claims, audiences, 3600.0)
        trusted.issuers[ISSUER].key(str(jwt.get_unverified_header(token).get("kid")))
        return claims

    signed: dict[str, tuple[bytes, bytes]] = {}
    for token in tokens:
        signing_input, _, signature = token.encode().rpartition(b".")
        raw = _b64url(signature)
        signed[token] = (signing_input, encode_dss_signature(int.from_bytes(raw[:48]), int.from_bytes(raw[48:])))

    def openssl(token: str) -> object:
        signing_input, der = signed[token]
        public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA384()))
        return None

    def pyjwt_trimmed(token: str) -> object:
        # The routing parse, then one verified decode with what the service re-checks itself switched off
        # (audience, expiry, required claims); nbf and iat stay PyJWT's.
        jwt.decode_complete(token, options={"verify_signature": False})
        return jwt.decode(token, key=key, algorithms=["ES384"], issuer=ISSUER, leeway=60,
                          options={"verify_aud": False, "verify_exp": False})

    def pyjwt_one_parse(token: str) -> object:
        # One PyJWT parse with its claim checks, then the signature over exactly those bytes by the key's own
        # PyJWT algorithm object (what jwt.decode does inside).
        parsed = jwt.decode_complete(token, audience=audiences, leeway=60, options={
            "verify_signature": False, "verify_exp": True, "verify_nbf": True, "verify_iat": True,
            "verify_aud": True, "verify_sub": True, "verify_jti": True,
            "require": ["iss", "aud", "exp", "iat", "jti"]})
        if parsed["header"]["alg"] != key.algorithm_name or not key.Algorithm.verify(
                token.rpartition(".")[0].encode(), key.key, parsed["signature"]):
            raise AssertionError("signature")
        return parsed["payload"]

    def stdlib_and_cryptography(token: str) -> object:
        signing_input, _, signature = token.encode().rpartition(b".")
        header_segment, _, payload_segment = signing_input.partition(b".")
        header, claims = orjson.loads(_b64url(header_segment)), orjson.loads(_b64url(payload_segment))
        raw = _b64url(signature)
        if header.get("alg") != "ES384" or header.get("kid") != KID or len(raw) != 96:
            raise AssertionError("header")
        try:
            public_key.verify(encode_dss_signature(int.from_bytes(raw[:48]), int.from_bytes(raw[48:])),
                              signing_input, ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            raise AssertionError("signature") from None
        now = time.time()
        if not (claims["aud"] == AUDIENCE and claims["exp"] > now - 60 and claims["iat"] < now + 60):
            raise AssertionError("claims")
        return claims

    rows: list[tuple[str, Timed, list[Any]]] = [
        ("(a) before: three parses (jwt.decode_complete, jwt.decode, header)", three_parses, tokens),
        ("service: verify_client_jwt (one PyJWT parse, PyJWK.Algorithm.verify)", service, tokens),
        ("OpenSSL P-384 verify alone (DER signature ready)", openssl, tokens),
        ("(b) PyJWT, the checks the service repeats switched off", pyjwt_trimmed, tokens),
        ("(c1) one PyJWT parse + PyJWK.Algorithm.verify", pyjwt_one_parse, tokens),
        ("(c2) standard library parse + cryptography verify", stdlib_and_cryptography, tokens),
    ]
    jwk = json.loads(trust_file.read_text())[ISSUER]["jwks"]["keys"][0]
    try:
        from joserfc import jwt as joserfc_jwt
        from joserfc.jwk import ECKey

        joserfc_key = ECKey.import_key(jwk)
        rows.append(("(d) joserfc " + _version("joserfc") + ": jwt.decode + claims registry",
                     lambda token: _joserfc(joserfc_jwt, joserfc_key, token), tokens))
    except ImportError:
        print("  (joserfc not importable: FLOOR_EXTRA_SITE)")
    try:
        from jwcrypto import jwk as jwcrypto_jwk
        from jwcrypto import jwt as jwcrypto_jwt

        jwcrypto_key = jwcrypto_jwk.JWK(**jwk)
        rows.append(("(d) jwcrypto " + _version("jwcrypto") + ": JWT(jwt=..., key=..., check_claims)",
                     lambda token: jwcrypto_jwt.JWT(jwt=token, key=jwcrypto_key, algs=["ES384"],
                                                    check_claims={"aud": AUDIENCE, "exp": None}).claims, tokens))
    except ImportError:
        print("  (jwcrypto not importable: FLOOR_EXTRA_SITE)")
    try:
        from Crypto.Hash import SHA384
        from Crypto.PublicKey import ECC
        from Crypto.Signature import DSS
        from cryptography.hazmat.primitives import serialization

        cryptodome_key = ECC.import_key(public_key.public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))

        def cryptodome(token: str) -> object:
            signing_input, der = signed[token]
            DSS.new(cryptodome_key, "fips-186-3", encoding="der").verify(SHA384.new(signing_input), der)
            return None

        rows.append(("(d) pycryptodome " + _version("pycryptodome") + ": the P-384 verify alone, its own C",
                     cryptodome, tokens))
    except ImportError:
        print("  (pycryptodome not importable: FLOOR_EXTRA_SITE)")
    report("client JWT (ES384), the replay INSERT left out", rows, base=rows[0][0])


def _joserfc(module: Any, key: Any, token: str) -> object:
    decoded = module.decode(token, key, algorithms=["ES384"])
    module.JWTClaimsRegistry(leeway=60, aud={"essential": True, "value": AUDIENCE},
                             exp={"essential": True}).validate(decoded.claims)
    return decoded.claims


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


# --- web ---------------------------------------------------------------------------------------------------------


def _environs(body: bytes, count: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=ORDER_SIGN, method="POST", data=body, headers=headers,
                             base_url="http://127.0.0.1:8080").get_environ()
    return [{**environ, "floor.body": body}] * count


def _call(app: Callable[..., Iterable[bytes]]) -> Timed:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        if not status.startswith("200"):
            raise AssertionError(status)

    def one(environ: dict[str, Any]) -> object:
        # a new copy of the environ and its body stream every call (the same few microseconds in every row)
        environ = {**environ, "wsgi.input": io.BytesIO(environ["floor.body"])}
        iterable = app(environ, start_response)
        try:
            return b"".join(iterable)
        finally:
            getattr(iterable, "close", lambda: None)()
    return one


def bare_wsgi(environ: dict[str, Any], start_response: Callable[..., object]) -> list[bytes]:
    """The least any WSGI service does with this call: read the body, parse it, answer."""
    orjson.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
    body = b'{"cards": []}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def werkzeug_only(environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
    from werkzeug.wrappers import Request, Response

    request = Request(environ)
    orjson.loads(request.get_data(cache=True))
    return Response(b'{"cards": []}', content_type="application/json")(environ, start_response)


def web_part() -> None:
    from flask import Response, request

    import benchmarks.ceiling_app
    import cds_service.app
    from cds_service.api.json_body import json_body
    from cds_service.json_codec import encode_json

    production_environment("bench-floor-")  # its issuer is not needed: the JWT is stubbed below
    # The client JWT is measured in the jwt part: here the service's request hook runs around a stub of it.
    cds_service.app.verify_client_jwt = lambda *_, **__: {"iss": ISSUER, "jti": "x"}  # type: ignore[assignment]

    def payload_only() -> Response:
        """What the payload ceiling does, through the service's JSON body reader and encoder."""
        json_body(request)
        return Response(encode_json({"cards": []}), mimetype="application/json")

    def service_app(without: str = "") -> Callable[..., Iterable[bytes]]:
        app = cds_service.create_app()
        app.view_functions["hooks.call_service"] = lambda service_id: payload_only()
        hooks = {"request log": ("start", "finish"), "security headers": ("security_headers",),
                 "client trust (JWT stubbed)": ("verify_client",)}
        if without:
            names = hooks[without]
            for functions in (app.before_request_funcs, app.after_request_funcs):
                functions[None] = [f for f in functions.get(None, []) if f.__name__ not in names]
        return app

    body = json.dumps(order_sign(100)).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer stub"}
    fresh = lambda: _environs(body, CALLS, headers)  # noqa: E731 — a body stream is read once
    rows: list[tuple[str, Timed, list[Any]]] = [
        ("bare WSGI function: read, orjson, answer", _call(bare_wsgi), fresh()),
        ("werkzeug Request/Response, no Flask", _call(werkzeug_only), fresh()),
        ("Flask: the payload ceiling app (b)", _call(benchmarks.ceiling_app.create_app()), fresh()),
        ("the service's app, its view stubbed to the ceiling's work", _call(service_app()), fresh()),
    ]
    for hook in ("request log", "security headers", "client trust (JWT stubbed)"):
        rows.append((f"  the same without its {hook}", _call(service_app(hook)), fresh()))
    report("the web layer: the (c-100) body POSTed, answered {\"cards\": []}", rows,
           base="Flask: the payload ceiling app (b)")
    # CDS_LOG_LEVEL=INFO, the default: the request log writes a line per call (to /dev/null here)
    at_info = [("the service's app, its view stubbed to the ceiling's work", _call(service_app()), fresh()),
               ("  the same without its request log", _call(service_app("request log")), fresh())]
    package, stderr = logging.getLogger("cds_service"), sys.stderr
    level = package.level
    with open(os.devnull, "w") as sys.stderr:
        package.setLevel(logging.INFO)  # after create_app, which sets CDS_LOG_LEVEL's
        try:
            report("the same at CDS_LOG_LEVEL=INFO (the default): the request log line written", at_info,
                   base=at_info[0][0])
        finally:
            package.setLevel(level)
            sys.stderr = stderr
    metrics_part()


def metrics_part() -> None:
    from cds_service.metrics import CARDS, REQUEST_LATENCY

    latency_child, cards_child = REQUEST_LATENCY.labels("bzd-taper-order-sign"), CARDS.labels("baclofen", "warning")

    def per_call_labels(_: object) -> object:
        with REQUEST_LATENCY.labels("bzd-taper-order-sign").time():
            pass
        CARDS.labels("baclofen", "warning").inc()
        return None

    def children_kept(_: object) -> object:
        with latency_child.time():
            pass
        cards_child.inc()
        return None

    inputs = list(range(CALLS))
    report("Prometheus metrics of a hook call (multiprocess mode, as under gunicorn)", [
        ("labels() per call: the latency histogram and one card counter", per_call_labels, inputs),
        ("the same on children kept from the first call", children_kept, inputs),
    ], base="labels() per call: the latency histogram and one card counter")


# --- replay ------------------------------------------------------------------------------------------------------


def replay_part() -> None:
    from cds_service.db import engine_for, ensure_schema
    from cds_service.security import replay

    work = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    url = f"sqlite:///{work}/cds.db"
    ensure_schema(url)
    engine = engine_for(url)
    expires = datetime.now(UTC) + timedelta(minutes=6)
    stored = expires.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy's DateTime stores it on SQLite
    sql = ("INSERT INTO seen_token_ids (issuer, jti, expires_at) VALUES (?, ?, ?) "
           "ON CONFLICT DO NOTHING RETURNING jti")
    replay.first_use(engine, ISSUER, "warm", expires)  # the process's first call purges

    def service(_: object) -> object:
        jti = uuid.uuid4().hex  # a new token's (the same cost in every row)
        assert replay.first_use(engine, ISSUER, jti, expires)
        return None

    def pooled_no_queue(_: object) -> object:
        jti = uuid.uuid4().hex  # a new token's (the same cost in every row)
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            rows = cursor.execute(sql, (ISSUER, jti, stored)).fetchall()
            connection.commit()
        finally:
            connection.close()
        assert rows
        return None

    kept = sqlite3.connect(f"{work}/cds.db", isolation_level=None, check_same_thread=False)
    kept.execute("PRAGMA synchronous=NORMAL")

    def kept_connection(_: object) -> object:
        jti = uuid.uuid4().hex  # a new token's (the same cost in every row)
        assert kept.execute(sql, (ISSUER, jti, stored)).fetchall()
        return None

    def insert_or_ignore(_: object) -> object:
        jti = uuid.uuid4().hex  # a new token's (the same cost in every row)
        assert kept.execute("INSERT OR IGNORE INTO seen_token_ids (issuer, jti, expires_at) VALUES (?, ?, ?)",
                            (ISSUER, jti, stored)).rowcount == 1
        return None

    memory = sqlite3.connect(":memory:", isolation_level=None)
    memory.execute("CREATE TABLE seen_token_ids (issuer TEXT, jti TEXT, expires_at TEXT, PRIMARY KEY (issuer, jti))")

    def in_memory(_: object) -> object:
        jti = uuid.uuid4().hex  # a new token's (the same cost in every row)
        assert memory.execute(sql, (ISSUER, jti, stored)).fetchall()
        return None

    other = sqlite3.connect(f"{work}/cds.db", isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE floor_other_log (id INTEGER PRIMARY KEY, body TEXT)")

    def other_write(_: object) -> object:
        other.execute("INSERT INTO floor_other_log (body) VALUES (?)", ("x" * 500,))
        return None

    def service_after_other_write(_: object) -> object:
        other_write(None)
        return service(None)

    calls = list(range(CALLS))
    report("replay store: one INSERT of a new (issuer, jti) on SQLite (WAL, synchronous=NORMAL)", [
        ("service: replay.first_use (pool checkout, writers' flock, RETURNING)", service, calls),
        ("the same statement, pooled connection, no writers' queue", pooled_no_queue, calls),
        ("the same statement on one kept connection", kept_connection, calls),
        ("INSERT OR IGNORE + rowcount on one kept connection", insert_or_ignore, calls),
        ("the statement on an in-memory table (not shared: no guarantee)", in_memory, calls),
        ("another connection's write alone (a card-log row)", other_write, calls),
        ("that write, then replay.first_use: its page cache is stale", service_after_other_write, calls),
    ], base="service: replay.first_use (pool checkout, writers' flock, RETURNING)")
    postgres_replay()


def postgres_replay() -> None:
    """The production store: a throwaway local PostgreSQL cluster (Debian's package), when installed. Only the
    service process's CPU is counted — the server's is another process's."""
    from cds_service.db import engine_for, migrate
    from cds_service.security import replay
    from tests.utils.postgres import _bin_dir, throwaway_cluster

    if _bin_dir() is None:
        print("\n(PostgreSQL not measured: Debian's postgresql package is not installed)")
        return
    with throwaway_cluster() as cluster:
        migrate(cluster.url)
        engine = engine_for(cluster.url)
        expires = datetime.now(UTC) + timedelta(minutes=6)
        replay.first_use(engine, ISSUER, "warm", expires)

        def service(_: object) -> object:
            assert replay.first_use(engine, ISSUER, uuid.uuid4().hex, expires)
            return None

        import psycopg

        sql = ("INSERT INTO seen_token_ids (issuer, jti, expires_at) VALUES (%s, %s, %s) "
               "ON CONFLICT DO NOTHING RETURNING jti")
        dsn = f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as autocommit, psycopg.connect(dsn) as transaction:

            def kept_autocommit(_: object) -> object:
                assert autocommit.execute(sql, (ISSUER, uuid.uuid4().hex, expires)).fetchall()
                return None

            def kept_commit(_: object) -> object:
                assert transaction.execute(sql, (ISSUER, uuid.uuid4().hex, expires)).fetchall()
                transaction.commit()
                return None

            def round_trip(_: object) -> object:
                return autocommit.execute("SELECT 1").fetchall()

            calls = list(range(CALLS))
            report("replay store on PostgreSQL (a local cluster over TCP; the server's CPU is not counted)", [
                ("service: replay.first_use (pool checkout, its ping and watchdog, autocommit)", service,
                 calls),
                ("the statement and COMMIT on one kept connection", kept_commit, calls),
                ("the statement alone, autocommitted, on one kept connection", kept_autocommit, calls),
                ("one round trip (SELECT 1)", round_trip, calls),
            ], base="service: replay.first_use (pool checkout, its ping and watchdog, autocommit)")
        engine.dispose()


# --- body --------------------------------------------------------------------------------------------------------


def body_part() -> None:
    import msgspec

    body = json.dumps(order_sign(100)).encode()
    decoder = msgspec.json.Decoder()
    times = [0] * CALLS
    report(f"the (c-100) body, {len(body) // 1024} KB of JSON, into Python objects", [
        ("orjson.loads (the service and the ceiling)", lambda _: orjson.loads(body), times),
        ("msgspec.json.Decoder().decode, untyped", lambda _: decoder.decode(body), times),
        ("json.loads (the standard library)", lambda _: json.loads(body), times),
    ], base="orjson.loads (the service and the ceiling)")


# --- main --------------------------------------------------------------------------------------------------------

PARTS = {"jwt": jwt_part, "web": web_part, "replay": replay_part, "body": body_part}


def main() -> int:
    chosen = os.environ.get("FLOOR_PARTS", ",".join(PARTS)).split(",")
    print(f"benchmarks/floor.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for part in chosen:
        PARTS[part]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of bzd-taper-cds in its production configuration against the physical limits of this machine,
one command: ``make bench`` (≈ 5 minutes, 127.0.0.1 only).

Every server runs under gunicorn with deploy/gunicorn.conf.py. The service runs as in production: client JWTs
required (ES384, a unique ``jti`` per call, so every call also writes the replay store), the SQLite store of
the embedded default, application logs at WARNING. Measured in the same run:
  (a) a minimal Flask app answering 1 KB of JSON to a GET — the framework ceiling;
  (b) a minimal Flask app that JSON-parses the same body as (c-100) and answers {"cards": []} — the payload
      ceiling; (b') the same with orjson, the parser the service uses (printed so that it cannot flatter);
  (c) order-sign with prefetched records of 10, 100 and 1,000 history resources that fire a card — with client
      JWTs, and again with CDS_AUTH=off for comparison;
  (d) order-sign of the 100-resource record by FHIR fallback to a local mock server adding 5 ms a call (the mock,
      benchmarks/mock_fhir.py, is one asyncio process: it stands in for a remote server, so it is made to take
      as little of the shared CPUs as it can — about 0.12 ms a search — and none of it is in "CPU ms");
  (e) a session mix: 1,000 distinct patients of 100 resources, each called as an EHR does — three
      order-selects while the prescriber edits the draft, then order-sign — every call once;
  (f) FHIR fallback to a mock server answering in 200 ms, at 32 connections;
  (g) in process: one order-sign after 100, 1,000 and 3,000 earlier benzodiazepine orders.
Load generator (wrk, with benchmarks/calls.lua) and servers share the machine's cores: the numbers are lower
bounds for the server alone, and only ratios measured in one run are compared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.calls import (  # noqa: E402
    ORDER_SIGN,
    Call,
    Issuer,
    history_request,
    interleave,
    order_sign,
    session,
    write_thread_files,
)

DURATION_S = int(os.environ.get("BENCH_SECONDS", "5"))
WARMUP_S = 2
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "1000"))
CONNECTIONS = 16
CASES = frozenset(os.environ.get("BENCH_CASES", "a,b,c,e,off,d,f,g").split(","))
"""Which cases to run (``BENCH_CASES=c,f``: only those; ``off`` is (c) with CDS_AUTH=off). Every case by
default; a subset is for working on one target, and prints only the ratios its cases allow."""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``app`` under gunicorn with the production configuration, or ``command`` (given the port) when set."""

    def __init__(self, app: str, env: dict[str, str] | None = None, args: Sequence[str] = (),
                 command: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        started = time.monotonic()
        self.process = subprocess.Popen(
            [*command, str(self.port)] if command else
            [str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "deploy/gunicorn.conf.py"),
             "--access-logfile", "/dev/null", *args, app],
            cwd=ROOT, env={**os.environ, "CDS_BIND": f"127.0.0.1:{self.port}", "CDS_LOG_LEVEL": "WARNING",
                           "CDS_PUBLIC_BASE_URL": self.base,
                           "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-metrics-"), **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT)
        while True:
            try:
                if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.01)
            if time.monotonic() - started > 30 or self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{app} did not start: {self.log.read().decode()[-2000:]}")
        self.cold_start_s = time.monotonic() - started

    def workers(self) -> list[str]:
        return subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()

    def worker_rss_mb(self) -> float:
        sizes = []
        for pid in self.workers():
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
        return max(sizes) if sizes else 0.0

    def cpu_s(self) -> float:
        """CPU time (user + system) the workers have used so far: unlike throughput, barely moved by whatever
        else runs on the machine."""
        total = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


@dataclass
class Load:
    """What one case sends, and to whom: calls cycled (or each sent once), with client JWTs if ``issuer``."""

    server: Server
    work: Path
    calls: list[Call]
    issuer: Issuer | None = None

    def run(self, connections: int, seconds: float, expected_rps: float = 0.0,
            sessions: list[list[Call]] | None = None) -> dict[str, float]:
        threads = min(2, connections)
        prefix = self.work / f"load-{time.monotonic_ns()}"
        per_thread = interleave(sessions, threads, connections // threads) if sessions else [self.calls] * threads
        requests_per_thread = int(expected_rps * seconds * 1.3 / threads) + 100
        tokens = write_thread_files(prefix, per_thread, self.server.base, self.issuer, requests_per_thread)
        env = {**os.environ, "BENCH_CALLS": f"{prefix}.calls"}
        if tokens is not None:
            env["BENCH_TOKENS"] = str(tokens)
        cpu_before = self.server.cpu_s()
        output = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                                 "--timeout", "10s", "-s", str(ROOT / "benchmarks/calls.lua"), self.server.base],
                                capture_output=True, text=True, env=env, timeout=seconds + 120).stdout
        for path in self.work.glob(f"{prefix.name}.*"):
            path.unlink()
        match = re.search(r"RESULT (\{.*\})", output)
        if match is None:
            raise RuntimeError(output)
        result: dict[str, float] = json.loads(match.group(1))
        if result["out_of_tokens"]:
            return self.run(connections, seconds, expected_rps * 2, sessions)
        result["rps"] = result["requests"] / result["seconds"]
        result["cpu_ms"] = (self.server.cpu_s() - cpu_before) * 1000 / max(result["requests"], 1)
        return result


def check(load: Load) -> int:
    """One call by hand: it must succeed (and, for hook calls, say how many cards)."""
    call = load.calls[0]
    headers = {"Content-Type": "application/json"}
    if load.issuer is not None:
        headers["Authorization"] = "Bearer " + load.issuer.tokens([load.server.base + call.path])[0]
    response = requests.request(call.method, load.server.base + call.path, data=call.body or None, headers=headers,
                                timeout=30)
    assert response.status_code == 200, response.text[:300]
    return len(response.json().get("cards", []))


def measure(name: str, load: Load, connections: int = CONNECTIONS, single: bool = True) -> dict[str, Any]:
    check(load)
    warm = load.run(connections, WARMUP_S, expected_rps=3000)  # every worker has loaded and cached what it needs
    busy = load.run(connections, DURATION_S, expected_rps=warm["rps"])
    alone = load.run(1, DURATION_S, expected_rps=busy["rps"]) if single else None
    if busy["errors"] or (alone and alone["errors"]):
        raise RuntimeError(f"{name}: errors during the run")
    return row(name, load.server, connections, busy, alone)


def row(name: str, server: Server, connections: int, busy: dict[str, float],
        alone: dict[str, float] | None) -> dict[str, Any]:
    return {"case": name, "connections": connections, "rps": busy["rps"], "requests": busy["requests"],
            "cpu_ms": busy["cpu_ms"],
            "p50": busy["p50_ms"], "p95": busy["p95_ms"], "p99": busy["p99_ms"],
            "p50_1": alone["p50_ms"] if alone else None, "p99_1": alone["p99_ms"] if alone else None,
            "rss_mb": server.worker_rss_mb(), "cold_start_s": server.cold_start_s}


def history_growth(sizes: Sequence[int] = (100, 1000, 3000)) -> dict[int, float]:
    """(g): median in-process time of one order-sign (validation, record, rules, cards) per history size."""
    from cds_service.config import Settings
    from cds_service.evaluate import evaluate_hook_call
    from cds_service.schemas.hook_request import load_hook_request
    from cds_service.services import SERVICES

    service, settings = SERVICES["bzd-taper-order-sign"], Settings(auth="off")
    times = {}
    for size in sizes:
        body = json.loads(json.dumps(history_request(size)))
        samples: list[float] = []
        while not samples or (len(samples) < 15 and sum(samples) < 2.0):
            started = time.perf_counter()
            evaluate_hook_call(service, load_hook_request(body, "order-sign"), settings)
            samples.append(time.perf_counter() - started)
        times[size] = statistics.median(samples) * 1000
    return times


def main() -> int:
    if shutil.which("wrk") is None:
        sys.stderr.write("wrk is not installed (Debian package wrk): make bench installs it\n")
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    issuer = Issuer()
    trust = str(issuer.trust_file(work / "trusted-issuers.json"))
    signs = {size: Call("POST", ORDER_SIGN, json.dumps(order_sign(size))) for size in (10, 100, 1000)}
    rows: list[dict[str, Any]] = []

    if CASES & {"a", "b"}:
        ceiling = Server("benchmarks.ceiling_app:create_app()")
        try:
            if "a" in CASES:
                rows.append(measure("(a) framework ceiling: GET 1 KB JSON",
                                    Load(ceiling, work, [Call("GET", "/ping")])))
            if "b" in CASES:
                rows.append(measure("(b) payload ceiling: parse the 100-resource body",
                                    Load(ceiling, work, [signs[100]])))
                orjson_call = Call("POST", "/orjson" + ORDER_SIGN, signs[100].body)
                rows.append(measure("(b') payload ceiling, parsed with orjson", Load(ceiling, work, [orjson_call])))
        finally:
            ceiling.stop()

    production = {"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": trust, "CDS_PATIENT_HASH_KEY": "bench-" + "0" * 58,
                  "CDS_TAPER_PROFILE": "summary"}
    if CASES & {"c", "e"}:
        run_production(work, issuer, production, signs, rows)
    if "off" in CASES:
        service = Server("cds_service:create_app()",
                         {"CDS_AUTH": "off", "DATABASE_URL": f"sqlite:///{work}/cds-off.db"})
        try:
            for size in (10, 100, 1000):
                rows.append(measure(f"(c) order-sign, {size} history resources, CDS_AUTH=off",
                                    Load(service, work, [signs[size]])))
        finally:
            service.stop()

    record = work / "record-100.json"
    record.write_text(json.dumps(json.loads(signs[100].body)["prefetch"]))
    for case, name, delay, connections in (
            ("d", "(d) order-sign, 100 resources by FHIR fallback (+5 ms/call)", 0.005, 16),
            ("f", "(f) order-sign, 100 resources by FHIR fallback (200 ms/call)", 0.2, 32)):
        if case not in CASES:
            continue
        mock = Server("benchmarks.mock_fhir", {"BENCH_RECORD": str(record), "BENCH_FHIR_DELAY_S": str(delay)},
                      command=(sys.executable, "-m", "benchmarks.mock_fhir"))
        fallback = {**json.loads(signs[100].body), "fhirServer": mock.base + "/fhir"}
        del fallback["prefetch"]
        service = Server("cds_service:create_app()", {**production, "DATABASE_URL": f"sqlite:///{work}/cds-{delay}.db",
                                                      "CDS_FHIR_ALLOWED": mock.base + "/fhir"})
        try:
            rows.append(measure(name, Load(service, work, [Call("POST", ORDER_SIGN, json.dumps(fallback))], issuer),
                                connections, single=delay < 0.1))
        finally:
            service.stop()
            mock.stop()

    growth = history_growth() if "g" in CASES else {}
    print_report(rows, growth)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def run_production(work: Path, issuer: Issuer, production: dict[str, str], signs: dict[int, Call],
                   rows: list[dict[str, Any]]) -> None:
    """(c) and (e), against one service in the production configuration."""
    service = Server("cds_service:create_app()", {**production, "DATABASE_URL": f"sqlite:///{work}/cds.db"})
    try:
        if "c" in CASES:
            for size in (10, 100, 1000):
                load = Load(service, work, [signs[size]], issuer)
                rows.append(measure(f"(c) order-sign, {size} history resources", load))
        if "e" not in CASES:
            return
        sessions = [session(n) for n in range(SESSIONS)]
        load = Load(service, work, sessions[0], issuer)
        check(load)
        warm = load.run(CONNECTIONS, WARMUP_S, expected_rps=1000)
        mix = load.run(CONNECTIONS, DURATION_S, expected_rps=warm["rps"], sessions=sessions)
        if mix["errors"]:
            raise RuntimeError("(e): errors during the run")
        rows.append(row(f"(e) session mix: {SESSIONS} patients × (3 order-select + order-sign)", service,
                        CONNECTIONS, mix, None))
    finally:
        service.stop()


def _fmt(value: float | None, width: int = 7, digits: int = 2) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else f"{'—':>{width}}"


def print_report(rows: list[dict[str, Any]], growth: dict[int, float]) -> None:
    cpus = os.cpu_count()
    print(f"\nbzd-taper-cds benchmark — {cpus} CPUs, gunicorn from deploy/gunicorn.conf.py, {DURATION_S} s per run, "
          f"wrk on the same machine (load generator and servers share the {cpus} cores)")
    print("service: CDS_AUTH=required (ES384 client JWT, a unique jti per call, replay store on SQLite) unless marked "
          "CDS_AUTH=off;\napplication logs at WARNING; latencies in ms; conn = wrk connections; @1 = 1 connection\n")
    header = (f"{'case':70} {'conn':>4} {'req/s':>7} {'CPU ms':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'p50@1':>7} "
              f"{'p99@1':>7} {'RSS MB':>7} {'start s':>7}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['case']:70} {r['connections']:4d} {r['rps']:7.0f} {r['cpu_ms']:7.2f} {_fmt(r['p50'])} "
              f"{_fmt(r['p95'])} {_fmt(r['p99'])} {_fmt(r['p50_1'])} {_fmt(r['p99_1'])} {r['rss_mb']:7.1f} "
              f"{r['cold_start_s']:7.2f}")
    if growth:
        print("\n(g) in process, one order-sign after N earlier benzodiazepine orders (median ms): "
              + ", ".join(f"{n}: {ms:.1f}" for n, ms in growth.items()))

    def find(prefix: str, off: bool = False) -> dict[str, Any] | None:
        return next((r for r in rows if r["case"].startswith(prefix) and ("CDS_AUTH=off" in r["case"]) == off),
                    None)

    a, b, b_orjson = find("(a)"), find("(b)"), find("(b')")
    c100, c1000, off100 = find("(c) order-sign, 100 "), find("(c) order-sign, 1000"), find("(c) order-sign, 100 ", True)
    mix, slow = find("(e)"), find("(f)")

    def rps(numerator: dict[str, Any] | None, denominator: dict[str, Any] | None) -> float | None:
        return numerator["rps"] / denominator["rps"] if numerator and denominator else None

    g_ratio = growth[3000] / growth[100] if growth else None
    c_ratio = c1000["p50_1"] / c100["p50_1"] if c1000 and c100 else None
    print("\nRatios, this run (production configuration unless marked):")
    targets: list[tuple[str, float | None, str, float | None]] = [
        # (what, value, target as printed, threshold: value ≥ it when the target is "≥", ≤/< otherwise)
        ("(c-100) req/s / (b) payload ceiling", rps(c100, b), "≥ 0.33", 0.33),
        ("(c-100, CDS_AUTH=off) req/s / (b)", rps(off100, b), "", None),
        ("(c-100) req/s / (b') orjson ceiling", rps(c100, b_orjson), "", None),
        ("(c-100) req/s / (a) framework ceiling", rps(c100, a), "", None),
        ("(c-100) req/s / (c-100, CDS_AUTH=off)", rps(c100, off100), "", None),
        ("(e) session mix req/s / (c-100) req/s", rps(mix, c100), "≥ 1", 1.0),
        ("(f) FHIR fallback at 200 ms, req/s", slow["rps"] if slow else None, "≥ 100", 100.0),
        ("(g) 3,000 / 100 orders, latency", g_ratio, "≤ 30", 30.0),
        ("(c-1000) p50@1 / (c-100) p50@1", c_ratio, "≤ 12", 12.0),
        ("(c-100) p99@1, ms", c100["p99_1"] if c100 else None, "< 50", 50.0),
    ]
    for name, value, target, threshold in targets:
        if value is None:
            continue
        met = None if threshold is None else (value >= threshold if target.startswith("≥") else
                                              value <= threshold if target.startswith("≤") else value < threshold)
        verdict = "" if met is None else ("met" if met else "NOT MET")
        print(f"  {name:42} {value:8.2f}   {target:8} {verdict}")
    if rows:
        print(f"  largest worker RSS: {max(r['rss_mb'] for r in rows):.0f} MB (target ≤ 200); "
              f"slowest cold start: {max(r['cold_start_s'] for r in rows):.2f} s (target ≤ 2)")


if __name__ == "__main__":
    raise SystemExit(main())

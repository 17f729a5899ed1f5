"""Benchmark of bzd-taper-cds in its production configuration against the payload ceiling of this machine,
one command: ``make bench`` (≈ 8 minutes with two rounds, 127.0.0.1 only).

What it measures is the service, not the machine:

- **CPU per call is the primary column**: user + system time of the gunicorn workers (``/proc``) over the calls
  they answered. Throughput and latency are printed too, but on a shared machine they move with whatever else
  runs; the workers' CPU per call barely does.
- **Rotating patients**: every call names a patient of its own (``benchmarks/calls.py`` ``ROTATING``), so no
  call — and no case — inherits the card log or the snoozes written by the ones before it; each round starts
  its servers on new databases.
- **The payload ceiling (b) parses the body with orjson**, as the service does: what any Flask service must
  spend to take this body in.
- **(g) long histories run in the gunicorn worker** (preloaded app, ``gc.freeze()`` before fork and whatever
  else deploy/gunicorn.conf.py sets): the production heap, measured as CPU per call, one connection.
- **The machine's state is recorded beside every run**: the 1-minute load average when the run starts, and
  the share of the machine's CPU that processes other than the measured server and wrk took during it.
- **At least two rounds, interleaved** (``BENCH_ROUNDS``, default 2): every case once per round, the second
  round in reverse order (A B … B A), so a drift of the machine's speed shows as a difference between the
  rounds instead of passing for a difference between cases.

Every server runs under gunicorn with deploy/gunicorn.conf.py. The service runs as in production: client JWTs
required (ES384, a unique ``jti`` per call, so every call also writes the replay store), the SQLite store of
the embedded default, application logs at WARNING. The cases:
  (a) a minimal Flask app answering 1 KB of JSON to a GET — the framework ceiling;
  (b) a minimal Flask app that orjson-parses the same body as (c-100) and answers {"cards": []} — the payload
      ceiling;
  (c) order-sign with prefetched records of 10, 100 and 1,000 history resources that fire a card — with client
      JWTs, and the 100-resource one again with CDS_AUTH=off for comparison;
  (d) order-sign of the 100-resource record by FHIR fallback to a local mock server adding 5 ms a call (the mock,
      benchmarks/mock_fhir.py, is one asyncio process standing in for a remote server: about 0.12 ms of CPU a
      search, counted as "other", never in "CPU ms");
  (e) a session mix: distinct patients of 100 resources, each called as an EHR does — three order-selects
      while the prescriber edits the draft, then order-sign — every call once;
  (f) FHIR fallback to a mock server answering in 200 ms, at 32 connections;
  (g) order-sign after 100, 1,000 and 3,000 earlier benzodiazepine orders, one connection.
Load generator (wrk, with benchmarks/calls.lua) and servers share the machine's cores.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.calls import (  # noqa: E402
    ORDER_SIGN,
    ROTATING,
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
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "1000"))
CONNECTIONS = 16
CASES = frozenset(os.environ.get("BENCH_CASES", "a,b,c,e,off,d,f,g").split(","))
"""Which cases to run (``BENCH_CASES=c,f``: only those; ``off`` is (c-100) with CDS_AUTH=off). Every case by
default; a subset is for working on one target, and prints only the ratios its cases allow."""
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
TENANTS = 8
"""EHRs (JWT issuers) taking turns, call by call (benchmarks/calls.py ``Issuer``): one EHR may hold at most half
of a worker's threads in FHIR fallback calls, and is answered 429 beyond (README, Security)."""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu_s(pid: str | int) -> float:
    """CPU time (user + system) process ``pid`` has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime, stime (fields 14 and 15 of proc(5))


def machine_busy_s() -> float:
    """CPU time every process of the machine has used (``/proc/stat``: all but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICK


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Server:
    """``app`` under gunicorn with the production configuration, or ``command`` (given the port) when set."""

    def __init__(self, app: str, env: dict[str, str] | None = None, args: Sequence[str] = (),
                 command: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.command = bool(command)
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
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
        return max(sizes) if sizes else 0.0

    def cpu_s(self) -> float:
        """CPU time the workers have used so far (the process itself for a ``command`` server)."""
        if self.command:
            return process_cpu_s(self.process.pid)
        return sum(process_cpu_s(pid) for pid in self.workers())

    def all_cpu_s(self) -> float:
        """The workers and the gunicorn master: what is not "other" on the machine."""
        return self.cpu_s() + (0.0 if self.command else process_cpu_s(self.process.pid))

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
    own: list[Server] = field(default_factory=list)
    """Other servers of the case (the mock FHIR server): their CPU is reported apart from "other"."""

    def run(self, connections: int, seconds: float, expected_rps: float = 0.0,
            sessions: list[list[Call]] | None = None) -> dict[str, float]:
        threads = min(2, connections)
        prefix = self.work / f"load-{time.monotonic_ns()}"
        per_thread = interleave(sessions, threads, connections // threads) if sessions else [self.calls] * threads
        requests_per_thread = int(expected_rps * seconds * 1.3 / threads) + 100
        tokens = write_thread_files(prefix, per_thread, self.server.base, self.issuer, requests_per_thread)
        env = {**os.environ, "BENCH_CALLS": f"{prefix}.calls", "BENCH_RUN": uuid.uuid4().hex[:12]}
        if tokens is not None:
            env["BENCH_TOKENS"] = str(tokens)
        load_average = os.getloadavg()[0]
        cpu_before, own_before = self.server.cpu_s(), self.own_cpu_s()
        busy_before, wrk_before, started = machine_busy_s(), children_cpu_s(), time.monotonic()
        output = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                                 "--timeout", "10s", "-s", str(ROOT / "benchmarks/calls.lua"), self.server.base],
                                capture_output=True, text=True, env=env, timeout=seconds + 120).stdout
        elapsed = time.monotonic() - started
        others = (machine_busy_s() - busy_before) - (children_cpu_s() - wrk_before) - (self.own_cpu_s() - own_before)
        for path in self.work.glob(f"{prefix.name}.*"):
            path.unlink()
        match = re.search(r"RESULT (\{.*\})", output)
        if match is None:
            raise RuntimeError(output)
        result: dict[str, float] = json.loads(match.group(1))
        if result["out_of_tokens"]:
            return self.run(connections, seconds, expected_rps * 2, sessions)
        answered = result["requests"] - result["status_errors"]
        result["rps"] = answered / result["seconds"]
        result["cpu_ms"] = (self.server.cpu_s() - cpu_before) * 1000 / max(result["requests"], 1)
        result["load"] = load_average
        result["other_pct"] = max(0.0, others) * 100 / (elapsed * (os.cpu_count() or 1))
        return result

    def own_cpu_s(self) -> float:
        return self.server.all_cpu_s() + sum(server.all_cpu_s() for server in self.own)


def check(load: Load) -> int:
    """One call by hand: it must succeed (and, for hook calls, say how many cards)."""
    call = load.calls[0]
    headers = {"Content-Type": "application/json"}
    if load.issuer is not None:
        headers["Authorization"] = "Bearer " + load.issuer.tokens([load.server.base + call.path])[0]
    response = requests.request(call.method, load.server.base + call.path, headers=headers, timeout=60,
                                data=call.body.replace(ROTATING, "check-" + uuid.uuid4().hex) or None)
    assert response.status_code == 200, response.text[:300]
    return len(response.json().get("cards", []))


def measure(name: str, load: Load, connections: int = CONNECTIONS, single: bool = True,
            refusals: bool = False) -> dict[str, Any]:
    """``connections`` at once (the CPU column and throughput), then one connection (latency alone) unless
    ``single`` is false. ``refusals``: non-2xx answers (the fallback's 429) are counted, not an error."""
    cards = check(load)
    warm = load.run(connections, WARMUP_S, expected_rps=3000)  # every worker has loaded and cached what it needs
    busy = load.run(connections, DURATION_S, expected_rps=warm["rps"] + 50)
    alone = load.run(1, DURATION_S, expected_rps=busy["rps"]) if single else None
    for result in (busy, alone):
        if result and (result["errors"] - (result["status_errors"] if refusals else 0)):
            raise RuntimeError(f"{name}: errors during the run: {result}")
    return row(name, load.server, connections, busy, alone, cards)


def measure_alone(name: str, load: Load) -> dict[str, Any]:
    """One connection only: CPU and latency of calls that never wait for one another ((g))."""
    cards = check(load)
    warm = load.run(1, WARMUP_S, expected_rps=100)
    alone = load.run(1, DURATION_S, expected_rps=warm["rps"] * 1.5 + 5)
    if alone["errors"]:
        raise RuntimeError(f"{name}: errors during the run: {alone}")
    return row(name, load.server, 1, alone, alone, cards)


def row(name: str, server: Server, connections: int, busy: dict[str, float],
        alone: dict[str, float] | None, cards: int) -> dict[str, Any]:
    return {"case": name, "connections": connections, "rps": busy["rps"], "requests": busy["requests"],
            "refused": busy["status_errors"], "cpu_ms": busy["cpu_ms"], "cards": cards,
            "p50": busy["p50_ms"], "p95": busy["p95_ms"], "p99": busy["p99_ms"],
            "p50_1": alone["p50_ms"] if alone else None, "p99_1": alone["p99_ms"] if alone else None,
            "rss_mb": server.worker_rss_mb(), "cold_start_s": server.cold_start_s,
            "load": busy["load"], "other_pct": busy["other_pct"]}


@dataclass
class Bench:
    """The servers and calls of every case; :meth:`groups` are run once per round."""

    work: Path
    issuer: Issuer
    trust: str
    signs: dict[int, Call]
    round: int = 0

    @property
    def production(self) -> dict[str, str]:
        return {"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": self.trust, "CDS_PATIENT_HASH_KEY": "bench-" + "0" * 58,
                "CDS_TAPER_PROFILE": "summary"}

    def database(self, name: str) -> str:
        """A new SQLite database for each server of each round: no round inherits another's card log."""
        return f"sqlite:///{self.work}/{name}-round{self.round}.db"

    def groups(self) -> list[tuple[str, Callable[[], list[dict[str, Any]]]]]:
        groups: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = []
        if CASES & {"a", "b"}:
            groups.append(("ceilings", self.ceilings))
        if CASES & {"c", "e", "g"}:
            groups.append(("production", self.production_cases))
        if "off" in CASES:
            groups.append(("auth off", self.auth_off))
        for case in ("d", "f"):
            if case in CASES:
                groups.append((case, partial(self.fallback, case)))
        return groups

    def ceilings(self) -> list[dict[str, Any]]:
        ceiling, rows = Server("benchmarks.ceiling_app:create_app()"), []
        try:
            if "a" in CASES:
                rows.append(measure("(a) framework ceiling: GET 1 KB JSON",
                                    Load(ceiling, self.work, [Call("GET", "/ping")])))
            if "b" in CASES:
                rows.append(measure("(b) payload ceiling: orjson-parse the 100-resource body",
                                    Load(ceiling, self.work, [self.signs[100]])))
        finally:
            ceiling.stop()
        return rows

    def production_cases(self) -> list[dict[str, Any]]:
        """(c), (e) and (g), against one service in the production configuration."""
        service = Server("cds_service:create_app()", {**self.production, "DATABASE_URL": self.database("cds")})
        rows = []
        try:
            if "c" in CASES:
                for size in (10, 100, 1000):
                    load = Load(service, self.work, [self.signs[size]], self.issuer)
                    rows.append(measure(f"(c) order-sign, {size} history resources", load))
            if "g" in CASES:
                for orders in (100, 1000, 3000):
                    call = Call("POST", ORDER_SIGN, json.dumps(history_request(orders)))
                    rows.append(measure_alone(f"(g) order-sign after {orders} earlier benzodiazepine orders",
                                              Load(service, self.work, [call], self.issuer)))
            if "e" in CASES:
                first = self.round * SESSIONS
                sessions = [session(n) for n in range(first, first + SESSIONS)]
                load = Load(service, self.work, sessions[0], self.issuer)
                check(load)
                warm = load.run(CONNECTIONS, WARMUP_S, expected_rps=1000)
                mix = load.run(CONNECTIONS, DURATION_S, expected_rps=warm["rps"], sessions=sessions)
                if mix["errors"]:
                    raise RuntimeError("(e): errors during the run")
                rows.append(row(f"(e) session mix: {SESSIONS} patients × (3 order-select + order-sign)", service,
                                CONNECTIONS, mix, None, 0))
        finally:
            service.stop()
        return rows

    def auth_off(self) -> list[dict[str, Any]]:
        service = Server("cds_service:create_app()", {"CDS_AUTH": "off", "DATABASE_URL": self.database("cds-off")})
        try:
            return [measure("(c) order-sign, 100 history resources, CDS_AUTH=off",
                            Load(service, self.work, [self.signs[100]]))]
        finally:
            service.stop()

    def fallback(self, case: str) -> list[dict[str, Any]]:
        name, delay, connections = {
            "d": ("(d) order-sign, 100 resources by FHIR fallback (+5 ms/call)", 0.005, 16),
            "f": ("(f) order-sign, 100 resources by FHIR fallback (200 ms/call)", 0.2, 32)}[case]
        record = self.work / "record-100.json"
        record.write_text(json.dumps(json.loads(self.signs[100].body)["prefetch"]))
        mock = Server("benchmarks.mock_fhir", {"BENCH_RECORD": str(record), "BENCH_FHIR_DELAY_S": str(delay)},
                      command=(sys.executable, "-m", "benchmarks.mock_fhir"))
        body = {**json.loads(self.signs[100].body), "fhirServer": mock.base + "/fhir"}
        del body["prefetch"]
        service = Server("cds_service:create_app()", {**self.production, "DATABASE_URL": self.database(f"cds-{case}"),
                                                      "CDS_FHIR_ALLOWED": mock.base + "/fhir"})
        try:
            load = Load(service, self.work, [Call("POST", ORDER_SIGN, json.dumps(body))], self.issuer, own=[mock])
            return [measure(name, load, connections, single=delay < 0.1, refusals=case == "f")]
        finally:
            service.stop()
            mock.stop()


def main() -> int:
    if shutil.which("wrk") is None:
        sys.stderr.write("wrk is not installed (Debian package wrk): make bench installs it\n")
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    issuer = Issuer(TENANTS)
    bench = Bench(work, issuer, str(issuer.trust_file(work / "trusted-issuers.json")),
                  {size: Call("POST", ORDER_SIGN, json.dumps(order_sign(size))) for size in (10, 100, 1000)})
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    rounds: list[list[dict[str, Any]]] = []
    for number in range(ROUNDS):
        bench.round = number
        groups = bench.groups()
        rows: list[dict[str, Any]] = []
        for _name, run_group in groups if number % 2 == 0 else reversed(groups):
            rows.extend(run_group())
        rounds.append(rows)
    print_report(rounds, started, load_before)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _fmt(value: float | None, width: int = 7, digits: int = 2) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else f"{'—':>{width}}"


def print_report(rounds: list[list[dict[str, Any]]], started: datetime, load_before: tuple[float, ...]) -> None:
    cpus = os.cpu_count()
    print(f"\nbzd-taper-cds benchmark, {started:%Y-%m-%d %H:%M} UTC — {cpus} CPUs, gunicorn from "
          f"deploy/gunicorn.conf.py, {DURATION_S} s per run, {len(rounds)} rounds interleaved (the second in "
          f"reverse order); load average before: {' '.join(f'{v:.2f}' for v in load_before)}")
    print(f"service: CDS_AUTH=required (ES384 client JWT, a unique jti per call, {TENANTS} EHRs taking turns, "
          "replay store on SQLite)\nunless marked CDS_AUTH=off; a new patient every call; CPU ms = the workers' CPU "
          "per call (the primary column);\nlatencies in ms; conn = wrk connections; @1 = 1 connection; load = 1-min "
          "load average as the run starts;\nother % = the machine's CPU taken by processes other than the server "
          "and wrk during the run\n")
    header = (f"{'case':62} {'rd':>2} {'CPU ms':>7} {'conn':>4} {'req/s':>7} {'p50':>7} {'p99':>7} {'p50@1':>7} "
              f"{'p99@1':>7} {'RSS MB':>6} {'start':>5} {'load':>5} {'other%':>6}")
    print(header)
    print("-" * len(header))
    by_case: dict[str, list[dict[str, Any]]] = {}
    for number, rows in enumerate(rounds, start=1):
        for r in rows:
            by_case.setdefault(r["case"], []).append({**r, "round": number})
    for case, rows in by_case.items():
        for r in sorted(rows, key=lambda r: r["round"]):
            refused = f" ({r['refused']:.0f} refused)" if r["refused"] else ""
            print(f"{(case + refused)[:62]:62} {r['round']:2d} {r['cpu_ms']:7.2f} {r['connections']:4d} "
                  f"{r['rps']:7.0f} {_fmt(r['p50'])} {_fmt(r['p99'])} {_fmt(r['p50_1'])} {_fmt(r['p99_1'])} "
                  f"{r['rss_mb']:6.0f} {r['cold_start_s']:5.2f} {r['load']:5.2f} {r['other_pct']:6.1f}")

    def find(rows: list[dict[str, Any]], prefix: str, off: bool = False) -> dict[str, Any] | None:
        return next((r for r in rows if r["case"].startswith(prefix) and ("CDS_AUTH=off" in r["case"]) == off),
                    None)

    def ratio(rows: list[dict[str, Any]], numerator: str, denominator: str, key: str = "cpu_ms",
              off: bool = False) -> float | None:
        top, bottom = find(rows, numerator, off), find(rows, denominator)
        return top[key] / bottom[key] if top and bottom and bottom[key] else None

    def value(rows: list[dict[str, Any]], prefix: str, key: str) -> float | None:
        found = find(rows, prefix)
        return found[key] if found else None

    targets: list[tuple[str, Callable[[list[dict[str, Any]]], float | None], str, float | None]] = [
        # (what, value per round, target as printed, threshold: value ≥ it when the target is "≥", ≤/< otherwise)
        ("(c-100) as a share of the payload ceiling: (b) CPU / (c-100) CPU",
         lambda rows: ratio(rows, "(b)", "(c) order-sign, 100 "), "≥ 0.33", 0.33),
        ("  the same in req/s: (c-100) / (b)", lambda rows: ratio(rows, "(c) order-sign, 100 ", "(b)", "rps"), "",
         None),
        ("(c-100, CDS_AUTH=off) CPU / (c-100) CPU",
         lambda rows: ratio(rows, "(c) order-sign, 100 ", "(c) order-sign, 100 ", off=True), "", None),
        ("(g) 3,000 / 100 earlier orders, CPU per call",
         lambda rows: ratio(rows, "(g) order-sign after 3000", "(g) order-sign after 100 "), "≤ 15", 15.0),
        ("(c-1000) / (c-100), CPU per call",
         lambda rows: ratio(rows, "(c) order-sign, 1000", "(c) order-sign, 100 "), "≤ 12", 12.0),
        ("(e) session mix CPU / (c-100) CPU", lambda rows: ratio(rows, "(e)", "(c) order-sign, 100 "), "≤ 1", 1.0),
        ("(d) fallback CPU - (c-100) CPU, ms",
         lambda rows: (value(rows, "(d)", "cpu_ms") or 0) - (value(rows, "(c) order-sign, 100 ", "cpu_ms") or 0)
         if find(rows, "(d)") and find(rows, "(c) order-sign, 100 ") else None, "", None),
        ("(f) FHIR fallback at 200 ms, calls/s answered", lambda rows: value(rows, "(f)", "rps"), "≥ 100", 100.0),
        ("(c-100) p99@1, ms", lambda rows: value(rows, "(c) order-sign, 100 ", "p99_1"), "< 50", 50.0),
    ]
    print("\nRatios and targets, per round (production configuration unless marked):")
    for name, compute, target, threshold in targets:
        values = [compute(rows) for rows in rounds]
        if all(v is None for v in values):
            continue
        shown = " ".join(_fmt(v, 7) for v in values)
        verdict = ""
        if threshold is not None:
            met = [v is not None and (v >= threshold if target.startswith("≥") else
                                      v <= threshold if target.startswith("≤") else v < threshold) for v in values]
            verdict = "met" if all(met) else "NOT MET" if not any(met) else "met in some rounds"
        print(f"  {name:66} {shown}   {target:7} {verdict}")
    every = [r for rows in rounds for r in rows]
    if every:
        print(f"  largest worker RSS: {max(r['rss_mb'] for r in every):.0f} MB (target ≤ 200); "
              f"slowest cold start: {max(r['cold_start_s'] for r in every):.2f} s (target ≤ 2)")


if __name__ == "__main__":
    raise SystemExit(main())

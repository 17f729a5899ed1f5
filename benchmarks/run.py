"""Benchmark of bzd-taper-cds against the physical limits of this machine (issue #7), one command:
``make bench`` (≤ 10 minutes, 127.0.0.1 only).

Measured in the same run, each under gunicorn with the production config (deploy/gunicorn.conf.py):
  (a) a minimal Flask app answering 1 KB of JSON to a GET — the framework ceiling;
  (b) a minimal Flask app that JSON-parses the same body as (c-100) and answers {"cards": []} — the payload ceiling;
  (b') the same parsing with orjson, the parser the service uses — the stricter ceiling, printed for honesty;
  (c) order-sign with prefetched records of 10, 100 and 1,000 history resources (mostly unrelated medications,
      conditions and observations) that fire a card;
  (d) order-sign of the 100-resource record with no prefetch: FHIR fallback to a local mock server adding 5 ms a call.
For each: requests/s at 16 connections; p50/p95/p99 at 1 and 16 connections; RSS per worker; cold start to ready.
Load generator (wrk) and server share this machine's cores: the numbers are lower bounds for the server alone.
The service runs with CDS_AUTH=off (no client JWT to verify), application logs at WARNING (the access log is
on, as for the ceilings) and the SQLite card log of the embedded default.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.utils.fhir import (  # noqa: E402
    baclofen_draft,
    condition,
    diazepam_taper_15_to_12,
    medication_request,
    patient,
    searchset,
)

DURATION_S = int(os.environ.get("BENCH_SECONDS", "5"))
UNRELATED = [("617314", "atorvastatin 10 MG Oral Tablet"), ("197361", "amlodipine 5 MG Oral Tablet"),
             ("861007", "metformin hydrochloride 500 MG Oral Tablet"), ("314076", "lisinopril 10 MG Oral Tablet"),
             ("312940", "sertraline 50 MG Oral Tablet"), ("198211", "simvastatin 40 MG Oral Tablet")]
CONDITIONS = [("38341003", "Hypertension"), ("44054006", "Type 2 diabetes"), ("197480006", "Anxiety disorder"),
              ("55822004", "Hyperlipidemia"), ("195967001", "Asthma")]
OBSERVATIONS = [("8480-6", "Systolic blood pressure", "mm[Hg]"), ("4548-4", "Hemoglobin A1c", "%"),
                ("2093-3", "Cholesterol", "mg/dL"), ("29463-7", "Body weight", "kg"), ("2160-0", "Creatinine", "mg/dL")]


def record(size: int, seed: int = 7) -> dict[str, Any]:
    """An order-sign request whose prefetched history has ``size`` resources and fires baclofen-adjunct."""
    rnd = random.Random(seed)
    taper = diazepam_taper_15_to_12()
    meds, conditions, observations = list(taper), [], []
    while len(meds) + len(conditions) + len(observations) < size:
        kind = rnd.random()
        if kind < 0.5:
            authored = f"20{rnd.randint(20, 25)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}"
            meds.append(medication_request(rnd.choice(UNRELATED), tablets=1, per_day=rnd.randint(1, 2),
                                           authored_on=authored, status=rnd.choice(["active", "completed", "stopped"])))
        elif kind < 0.75:
            code, text = rnd.choice(CONDITIONS)
            conditions.append(condition(code, text))
        else:
            code, text, unit = rnd.choice(OBSERVATIONS)
            observations.append({"resourceType": "Observation", "id": f"obs-{uuid.uuid4().hex[:8]}", "status": "final",
                                 "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": text}]},
                                 "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-02-01",
                                 "valueQuantity": {"value": round(rnd.uniform(1, 150), 1), "unit": unit}})
    return {"hookInstance": str(uuid.uuid4()), "hook": "order-sign",
            "context": {"userId": "Practitioner/1", "patientId": "p1",
                        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": baclofen_draft()}]}},
            "prefetch": {"patient": patient(), "medicationRequests": searchset(*meds),
                         "medicationDispenses": searchset(), "medicationStatements": searchset(),
                         "conditions": searchset(*conditions), "observations": searchset(*observations)}}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, app: str, env: dict[str, str] | None = None, ready_path: str = "/healthz") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "deploy/gunicorn.conf.py"),
             "--access-logfile", "/dev/null", app],
            cwd=ROOT, env={**os.environ, "CDS_BIND": f"127.0.0.1:{self.port}", "CDS_LOG_LEVEL": "WARNING",
                           "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-metrics-"), **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT)
        while True:
            try:
                if requests.get(self.base + ready_path, timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.01)
            if time.monotonic() - started > 30:
                raise RuntimeError(f"{app} did not start")
        self.cold_start_s = time.monotonic() - started

    def worker_rss_mb(self) -> float:
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        sizes = []
        for pid in children:
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
        return max(sizes) if sizes else 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


def wrk(url: str, body: Path | None, connections: int) -> dict[str, float]:
    env = {**os.environ, **({"BENCH_BODY": str(body)} if body else {})}
    env.pop("BENCH_BODY", None) if body is None else None
    threads = min(2, connections)
    output = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{DURATION_S}s",
                             "--timeout", "10s", "-s", str(ROOT / "benchmarks/report.lua"), url],
                            capture_output=True, text=True, env=env, timeout=DURATION_S + 60).stdout
    match = re.search(r"RESULT (\{.*\})", output)
    if match is None:
        raise RuntimeError(output)
    result: dict[str, float] = json.loads(match.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def measure(name: str, server: Server, path: str, body: Path | None) -> dict[str, Any]:
    url = server.base + path
    if body:
        response = requests.post(url, data=body.read_bytes(), headers={"Content-Type": "application/json"}, timeout=30)
    else:
        response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text[:300]
    wrk(url, body, 16)  # warm-up: every worker has parsed, loaded and cached what it needs
    busy, single = wrk(url, body, 16), wrk(url, body, 1)
    if busy["errors"] or single["errors"]:
        raise RuntimeError(f"{name}: errors during the run")
    return {"case": name, "rps_16": busy["rps"], "p50_1": single["p50_ms"], "p95_1": single["p95_ms"],
            "p99_1": single["p99_ms"], "p50_16": busy["p50_ms"], "p95_16": busy["p95_ms"], "p99_16": busy["p99_ms"],
            "rss_mb": server.worker_rss_mb(), "cold_start_s": server.cold_start_s,
            "cards": len(response.json().get("cards", [])) if body else None}


def main() -> int:
    if shutil.which("wrk") is None:
        sys.stderr.write("wrk is not installed (Debian package wrk): make bench installs it\n")
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    bodies = {}
    for size in (10, 100, 1000):
        bodies[size] = work / f"order-sign-{size}.json"
        bodies[size].write_text(json.dumps(record(size)))
    fallback = record(100)
    del fallback["prefetch"]
    rows = []
    ceiling = Server("benchmarks.ceiling_app:create_app()")
    try:
        rows.append(measure("(a) framework ceiling: GET 1 KB JSON", ceiling, "/ping", None))
        rows.append(measure("(b) payload ceiling: parse the 100-resource body", ceiling,
                            "/cds-services/bzd-taper-order-sign", bodies[100]))
        rows.append(measure("(b') payload ceiling, parsed with orjson", ceiling,
                            "/orjson/cds-services/bzd-taper-order-sign", bodies[100]))
    finally:
        ceiling.stop()
    service = Server("cds_service:create_app()", {"CDS_AUTH": "off", "DATABASE_URL": f"sqlite:///{work}/cds.db"})
    try:
        for size in (10, 100, 1000):
            rows.append(measure(f"(c) order-sign, {size} history resources", service,
                                "/cds-services/bzd-taper-order-sign", bodies[size]))
    finally:
        service.stop()
    mock = Server("benchmarks.mock_fhir:create_app()", {"BENCH_RECORD": str(bodies[100])})
    fallback["fhirServer"] = mock.base + "/fhir"
    fallback_body = work / "order-sign-fallback.json"
    fallback_body.write_text(json.dumps(fallback))
    service = Server("cds_service:create_app()", {"CDS_AUTH": "off", "DATABASE_URL": f"sqlite:///{work}/cds2.db"})
    try:
        rows.append(measure("(d) order-sign, 100 resources by FHIR fallback (+5 ms/call)", service,
                            "/cds-services/bzd-taper-order-sign", fallback_body))
    finally:
        service.stop()
        mock.stop()
    print_report(rows)
    return 0


def print_report(rows: list[dict[str, Any]]) -> None:
    cpus = os.cpu_count()
    print(f"\nbzd-taper-cds benchmark — {cpus} CPUs, gunicorn sync workers from deploy/gunicorn.conf.py, "
          f"{DURATION_S} s per run, wrk on the same machine (load generator and server share the {cpus} cores)")
    print("service: CDS_AUTH=off, application logs at WARNING, SQLite; latencies in ms; @1/@16 = connections\n")
    header = (f"{'case':62} {'req/s@16':>9} {'p50@1':>7} {'p95@1':>7} {'p99@1':>7} {'p50@16':>7} {'p95@16':>7} "
              f"{'p99@16':>7} {'RSS MB':>7} {'start s':>7}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['case']:62} {row['rps_16']:9.0f} {row['p50_1']:7.2f} {row['p95_1']:7.2f} {row['p99_1']:7.2f} "
              f"{row['p50_16']:7.2f} {row['p95_16']:7.2f} {row['p99_16']:7.2f} {row['rss_mb']:7.1f} "
              f"{row['cold_start_s']:7.2f}")
    by = {row["case"].split(" ", 1)[0]: row for row in rows}
    c100 = next(r for r in rows if "100 history" in r["case"])
    c1000 = next(r for r in rows if "1000 history" in r["case"])
    print("\nRatios (latencies in ms at 1 connection):")
    for key, name, target in (("(a)", "(a) framework ceiling", ""), ("(b)", "(b) payload ceiling", "(target ≥ 0.33)"),
                              ("(b')", "(b') orjson ceiling", "")):
        print(f"  (c-100) throughput / {name + ':':24} {c100['rps_16'] / by[key]['rps_16']:.2f}   {target}")
    print(f"  (c-1000) p50 / (c-100) p50:                 {c1000['p50_1'] / c100['p50_1']:.1f}    (target ≤ 12)")
    print(f"  largest worker RSS: {max(r['rss_mb'] for r in rows):.0f} MB (target ≤ 200); "
          f"slowest cold start: {max(r['cold_start_s'] for r in rows):.2f} s (target ≤ 2)")

if __name__ == "__main__":
    raise SystemExit(main())

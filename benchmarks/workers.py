"""gunicorn's worker settings chosen by measurement: ``.venv/bin/python benchmarks/workers.py`` (≈ 6 minutes).

Each configuration serves, in the production configuration of ``make bench``, the CPU-bound call — (c-100):
order-sign of a prefetched 100-resource record at 16 connections, then alone — and the waiting one — (f):
FHIR fallback from a server answering each search in 200 ms, at 32 connections. Configurations alternate
within each round, the second round in reverse order (A B … B A). Printed: the workers' CPU per call and the
calls a second of each, p99 at one connection, the largest worker's RSS, the load average as each run started.

``BENCH_CONFIGS`` picks configurations by name (comma-separated); ``BENCH_ROUNDS`` (default 2) the rounds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.calls import ORDER_SIGN, Call, Issuer, order_sign
from benchmarks.run import ROUNDS, TENANTS, Load, Server, measure

CPUS = os.cpu_count() or 1
CONFIGS: dict[str, tuple[dict[str, str], list[str]]] = {
    # name: (environment, gunicorn arguments) — the first is deploy/gunicorn.conf.py's default
    f"gthread {2 * CPUS + 1}w x 8t": ({"CDS_WORKERS": str(2 * CPUS + 1), "CDS_THREADS": "8"}, []),
    f"gthread {CPUS + 1}w x 8t": ({"CDS_WORKERS": str(CPUS + 1), "CDS_THREADS": "8"}, []),
    f"gthread {CPUS}w x 8t": ({"CDS_WORKERS": str(CPUS), "CDS_THREADS": "8"}, []),
    f"gthread {CPUS + 1}w x 16t": ({"CDS_WORKERS": str(CPUS + 1), "CDS_THREADS": "16"}, []),
    f"gthread {2 * CPUS + 1}w x 16t": ({"CDS_WORKERS": str(2 * CPUS + 1), "CDS_THREADS": "16"}, []),
    # gunicorn turns sync into gthread when threads > 1: one thread, as sync workers have
    f"sync {2 * CPUS + 1}w": ({"CDS_WORKERS": str(2 * CPUS + 1)}, ["--worker-class", "sync", "--threads", "1"]),
}


def main() -> int:
    chosen = [name for name in os.environ.get("BENCH_CONFIGS", ",".join(CONFIGS)).split(",") if name]
    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    issuer = Issuer(TENANTS)
    trust = str(issuer.trust_file(work / "trusted-issuers.json"))
    sign = order_sign(100)
    record = work / "record-100.json"
    record.write_text(json.dumps(sign["prefetch"]))
    rows: list[dict[str, Any]] = []
    for number in range(ROUNDS):
        for name in chosen if number % 2 == 0 else reversed(chosen):
            env, args = CONFIGS[name]
            production = {"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": trust, "CDS_TAPER_PROFILE": "summary",
                          "CDS_PATIENT_HASH_KEY": "bench-" + "0" * 58, **env}
            service = Server("cds_service:create_app()", {**production,
                             "DATABASE_URL": f"sqlite:///{work}/c-{number}-{len(rows)}.db"}, args)
            try:
                c100 = measure("(c-100)", Load(service, work, [Call("POST", ORDER_SIGN, json.dumps(sign))], issuer))
            finally:
                service.stop()
            mock = Server("benchmarks.mock_fhir", {"BENCH_RECORD": str(record), "BENCH_FHIR_DELAY_S": "0.2"},
                          command=(sys.executable, "-m", "benchmarks.mock_fhir"))
            body = {**sign, "fhirServer": mock.base + "/fhir"}
            del body["prefetch"]
            service = Server("cds_service:create_app()", {**production, "CDS_FHIR_ALLOWED": mock.base + "/fhir",
                             "DATABASE_URL": f"sqlite:///{work}/f-{number}-{len(rows)}.db"}, args)
            try:
                fallback = measure("(f)", Load(service, work, [Call("POST", ORDER_SIGN, json.dumps(body))], issuer,
                                               own=[mock]), 32, single=False, refusals=True)
            finally:
                service.stop()
                mock.stop()
            rows.append({"config": name, "round": number + 1, "c": c100, "f": fallback})
    print(f"\ngunicorn worker settings, {CPUS} CPUs, production configuration, wrk on the same machine")
    header = (f"{'configuration':22} {'rd':>2} {'c CPU ms':>8} {'c req/s':>7} {'c p99':>7} {'c p99@1':>7} "
              f"{'RSS MB':>6} {'f CPU ms':>8} {'f calls/s':>9} {'f 429s':>6} {'load':>5}")
    print(header)
    print("-" * len(header))
    for r in sorted(rows, key=lambda r: (chosen.index(r["config"]), r["round"])):
        c, f = r["c"], r["f"]
        print(f"{r['config']:22} {r['round']:2d} {c['cpu_ms']:8.2f} {c['rps']:7.0f} {c['p99']:7.1f} "
              f"{c['p99_1']:7.1f} {c['rss_mb']:6.0f} {f['cpu_ms']:8.2f} {f['rps']:9.0f} {f['refused']:6.0f} "
              f"{c['load']:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

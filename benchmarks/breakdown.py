"""Where the CPU of one (c-100) call goes: ``.venv/bin/python benchmarks/breakdown.py`` (≈ 1 minute).

The production app in process, on the production heap (``gc.freeze()`` after ``create_app``, as gunicorn's
``pre_fork`` in deploy/gunicorn.conf.py) — ``create_app`` with ``CDS_AUTH=required`` (ES384 client JWT with a unique
``jti``, the replay store on SQLite), a new patient every call — called through Flask's test client with the
(c-100) body of ``make bench``. Each step of the hook path is wrapped where the path looks it up, and its
thread CPU (``time.thread_time``, exclusive of the wrapped steps it calls) is summed per call; ``BENCH_ROUNDS``
rounds (default 5) of ``BENCH_CALLS`` calls (default 150) — of the (g) call after ``BENCH_ORDERS`` earlier
orders when set — and the median of the rounds is printed. What no
step covers inside the WSGI app — Flask's routing and request objects, logging, metrics — is one line, and
what werkzeug's test client spends outside it (building the environ, reading the response; gunicorn's HTTP
parsing takes its place in production) another. The card log is written by a background thread: not in the
call's CPU here, in the workers' under gunicorn.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.calls import ORDER_SIGN, ROTATING, history_request, order_sign, production_environment

STEPS: list[tuple[str, str, str]] = [
    # (what, module where the hook path looks it up, name)
    ("client JWT: ES384 verification and claims", "cds_service.app", "verify_client_jwt"),
    ("client JWT: replay-store INSERT", "cds_service.security.replay", "first_use"),
    ("body read + decode (a taper history typed)", "cds_service.api.hooks", "json_body"),
    ("request schema (marshmallow)", "cds_service.api.hooks", "load_hook_request"),
    ("prefetch resolution", "cds_service.evaluate", "resolve_prefetch"),
    ("clinical facts (less filter and record)", "cds_service.evaluate", "clinical_facts"),
    ("relevance filter", "cds_service.evaluate", "relevant_resources"),
    ("record: parse and validate", "cds_service.evaluate", "parse_patient_record"),
    ("rules", "cds_service.evaluate", "evaluate_rules"),
    ("card selection", "cds_service.evaluate", "select_cards"),
    ("cards", "cds_service.evaluate", "build_cards"),
    ("patient pseudonym (HMAC)", "cds_service.api.hooks", "patient_hash"),
    ("snooze read", "cds_service.api.hooks", "snoozed_card_types"),
    ("card uuids", "cds_service.api.hooks", "card_ids"),
    ("response encoding", "cds_service.api.hooks", "encode_json"),
]
FLASK = "Flask, werkzeug, logging, metrics (rest of the app)"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CALLS = int(os.environ.get("BENCH_CALLS", "150"))


class Clock:
    """Exclusive thread CPU per step: a step's time less that of the wrapped steps inside it."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [time.thread_time(), 0.0]
            self._stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                self._stack.pop()
                total = time.thread_time() - frame[0]
                self.spent[name] += total - frame[1]
                if self._stack:
                    self._stack[-1][1] += total
        return timed


def main() -> int:
    issuer = production_environment("bench-breakdown-")
    from cds_service import create_app

    app = create_app()
    gc.collect()
    gc.freeze()  # the production heap: what deploy/gunicorn.conf.py's pre_fork does before the workers start
    clock, missing = Clock(), []
    for name, module_name, attribute in STEPS:
        module = importlib.import_module(module_name)
        if not hasattr(module, attribute):
            missing.append(f"{module_name}.{attribute}")
            continue
        setattr(module, attribute, clock.wrap(name, getattr(module, attribute)))
    # Inside the WSGI app, less the steps above: Flask's routing and request objects, logging, metrics.
    app.wsgi_app = clock.wrap(FLASK, app.wsgi_app)  # type: ignore[method-assign]
    client = app.test_client()
    orders = int(os.environ.get("BENCH_ORDERS", "0"))
    body = json.dumps(history_request(orders) if orders else order_sign(100))
    audience = "http://127.0.0.1:8080" + ORDER_SIGN

    def calls(count: int) -> float:
        tokens = issuer.tokens([audience] * count)
        started = time.thread_time()
        for token in tokens:
            response = client.post(ORDER_SIGN, data=body.replace(ROTATING, uuid.uuid4().hex),
                                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            assert response.status_code == 200 and response.get_json()["cards"], response.get_data()[:300]
        return (time.thread_time() - started) * 1000 / count

    calls(min(50, CALLS))  # warm: lazy imports, caches, the database's first pages
    totals, steps = [], defaultdict(list)
    for _ in range(ROUNDS):
        clock.spent.clear()
        totals.append(calls(CALLS))
        for name in [step[0] for step in STEPS] + [FLASK]:
            steps[name].append(clock.spent.get(name, 0.0) * 1000 / CALLS)
    total = statistics.median(totals)
    case = f"(g) after {orders} earlier orders" if orders else "(c-100)"
    print(f"\n{case} in process, production configuration: {ROUNDS} rounds × {CALLS} calls, thread CPU per call "
          f"(median of the rounds), load average {os.getloadavg()[0]:.2f}")
    print(f"  {'whole call':52} {total:6.3f} ms  (rounds: {' '.join(f'{t:.3f}' for t in totals)})")
    named = 0.0
    for name, values in sorted(steps.items(), key=lambda item: -statistics.median(item[1])):
        ms = statistics.median(values)
        named += ms
        print(f"  {name:52} {ms:6.3f} ms  {ms * 100 / total:4.1f} %")
    print(f"  {'the test client (not under gunicorn)':52} {total - named:6.3f} ms  "
          f"{(total - named) * 100 / total:4.1f} %")
    if missing:
        print("  not found (renamed?): " + ", ".join(missing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

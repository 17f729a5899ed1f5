"""CPU of the record layer, in process: ``python benchmarks/record_layer.py [--gc-ab]``.

Measures with ``time.thread_time`` (CPU of this thread, so the machine's other load moves it less than wall time),
the median of several rounds, each round many repetitions:

- ``filter-100``: the relevance filter of a 100-resource prefetch (``relevant_resources``);
- ``parse-100``: reading those resources and the draft into a ``PatientRecord``, observations included;
- ``per-resource``: ``parse-100`` divided by the resources it read;
- ``call-100``, ``orders-1000``, ``orders-3000``: one whole order-sign evaluation (request validation, record,
  rules, cards) of the 100-resource prefetch and of 1,000 and 3,000 earlier orders (``calls.history_request``).

``--gc-ab`` runs the whole evaluations on the production heap (loaded, then ``gc.freeze()`` as gunicorn's
``pre_fork`` does), interleaved under the interpreter's default first-generation threshold and under larger ones
(:data:`GC_CANDIDATES`), and prints each.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.calls import history_request, order_sign  # noqa: E402
from cds_service.clinical.terminology import load_terminology  # noqa: E402
from cds_service.config import Settings  # noqa: E402
from cds_service.evaluate import evaluate_hook_call  # noqa: E402
from cds_service.fhir.client import bundle_resources  # noqa: E402
from cds_service.fhir.parse import parse_patient_record, relevant_resources  # noqa: E402
from cds_service.schemas.hook_request import load_hook_request  # noqa: E402
from cds_service.services import SERVICES  # noqa: E402

ROUNDS = 7


def cpu_ms(work: Callable[[], object], repeat: int) -> float:
    """Median over :data:`ROUNDS` rounds of the CPU milliseconds of one ``work()``."""
    samples = []
    for _ in range(ROUNDS):
        started = time.thread_time()
        for _ in range(repeat):
            work()
        samples.append((time.thread_time() - started) / repeat * 1000)
    return statistics.median(samples)


def _raw(request: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {key: bundle_resources(value) if value.get("resourceType") == "Bundle" else [value]
            for key, value in request["prefetch"].items()}


def record_layer() -> dict[str, float]:
    terminology = load_terminology()
    request = json.loads(json.dumps(order_sign(100)))
    raw = _raw(request)
    drafts = bundle_resources(request["context"]["draftOrders"])
    relevant = relevant_resources(raw, terminology)

    def parse() -> None:
        record = parse_patient_record(relevant, drafts)
        assert record.observations is not None and record.opioid_history is not None

    results = {"filter-100": cpu_ms(lambda: relevant_resources(raw, terminology), 300),
               "parse-100": cpu_ms(parse, 300)}
    results["per-resource-us"] = results["parse-100"] * 1000 / (len(relevant.resources) + len(drafts))
    results["resources-read"] = len(relevant.resources) + len(drafts)
    return results


def evaluations() -> dict[str, Callable[[], object]]:
    service, settings = SERVICES["bzd-taper-order-sign"], Settings(auth="off")
    cases = {"call-100": order_sign(100), "orders-1000": history_request(1000), "orders-3000": history_request(3000)}

    def call(body: dict[str, Any]) -> Callable[[], object]:
        text = json.dumps(body)
        return lambda: evaluate_hook_call(service, load_hook_request(json.loads(text), "order-sign"), settings)

    return {name: call(body) for name, body in cases.items()}


REPEAT = {"call-100": 60, "orders-1000": 4, "orders-3000": 2}
GC_CANDIDATES = (10_000, 50_000)
"""First-generation thresholds tried against the interpreter's default (700) by ``--gc-ab``."""


def main() -> int:
    print(f"load average {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")
    for name, value in record_layer().items():
        print(f"{name:16} {value:9.3f}")
    cases = evaluations()
    if "--gc-ab" not in sys.argv:
        for name, work in cases.items():
            print(f"{name:16} {cpu_ms(work, REPEAT[name]):9.2f} ms CPU")
        return 0
    # the production heap: everything loaded, then frozen as gunicorn's pre_fork does (deploy/gunicorn.conf.py)
    for work in cases.values():
        work()
    gc.collect()
    gc.freeze()
    defaults = gc.get_threshold()
    variants = {"default": defaults, **{f"gen0={n}": (n, defaults[1], defaults[2]) for n in GC_CANDIDATES}}
    for name, work in cases.items():
        samples: dict[str, list[float]] = {variant: [] for variant in variants}
        for _ in range(3):  # interleaved, so that the machine's load falls on every variant alike
            for variant, threshold in variants.items():
                gc.set_threshold(*threshold)
                samples[variant].append(cpu_ms(work, REPEAT[name]))
        print(f"{name:16} " + "  ".join(f"{variant} {statistics.median(values):8.2f}"
                                        for variant, values in samples.items()) + " ms CPU")
    gc.set_threshold(*defaults)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

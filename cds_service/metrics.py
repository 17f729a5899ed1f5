"""Prometheus metrics (issue #7 item 4), multiprocess-safe under gunicorn.

When ``PROMETHEUS_MULTIPROC_DIR`` is set (deploy/gunicorn.conf.py sets it), every worker writes its samples
there and ``/metrics`` aggregates them; otherwise the process's own registry is served.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

REQUEST_LATENCY = Histogram(
    "cds_request_duration_seconds", "Time to answer a CDS Hooks call, by service", ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CARDS = Counter("cds_cards_total", "Cards returned, by card type and indicator", ["card_type", "indicator"])
RULE_FAILURES = Counter("cds_rule_failures_total", "Rules that raised on odd data (their cards were skipped)",
                        ["rule"])
FHIR_CALLS = Counter("cds_fhir_fallback_calls_total", "FHIR fallback requests, by result", ["result"])
FHIR_LATENCY = Histogram("cds_fhir_fallback_duration_seconds", "Duration of one FHIR fallback request",
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0))
CARD_LOG_ROWS = Counter("cds_card_log_rows_total", "Card log rows, by result (written behind the response)",
                        ["result"])
FEEDBACK_WRITES = Counter("cds_feedback_items_total", "Feedback items received, by result", ["result"])


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, aggregated over workers when running multiprocess."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST

"""gunicorn settings for production: threaded workers sized to the CPUs, timeouts below an EHR's hook timeout.

Environment: CDS_BIND (default 127.0.0.1:8080; 0.0.0.0:8080 in containers), CDS_WORKERS (default 2 × CPUs
+ 1), CDS_THREADS (threads per worker: the service's setting, cds_service.config), PROMETHEUS_MULTIPROC_DIR (default: a fresh temporary
folder) for metrics shared by the workers.
"""

import gc
import multiprocessing
import os
import tempfile

from cds_service.config import Settings

bind = os.environ.get("CDS_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("CDS_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# Threads, not sync workers: a call whose record must be fetched from the EHR's FHIR server waits on the network
# (200 ms per search is common), and a sync worker waiting is a worker lost — five of them capped the service near
# 25 such calls a second. A thread waiting costs nothing, and a slow client holds one thread, not a whole worker
# (gthread also waits for a new connection's first bytes without a thread). The rules themselves are CPU-bound
# Python: processes, not threads, use the cores, so the worker count stays at 2 × CPUs + 1. Chosen by measurement
# (benchmarks/workers.py, deploy/README.md): on a CPU-bound call sync, gthread × 8 and gthread × 16 cost the same
# CPU per call, and 3 or 2 workers no less than 5; on FHIR fallback calls 16 threads a worker (the service's
# default, CDS_THREADS) answered more calls a second than 8 in every pair. A thread holds one of the worker's
# 5 + 5 database connections only for a statement (the replay INSERT, the snooze read), never while it waits
# on a FHIR server, so 16 threads share them.
worker_class = "gthread"
threads = Settings.request_threads(os.environ)
# EHRs give a CDS service a few seconds at most; a worker stuck longer than this is restarted.
timeout = 10
graceful_timeout = 10
keepalive = 5
preload_app = True
# Each worker's heartbeat file lives here. gunicorn's default is the system temporary folder, which does not
# exist under a read-only root (Kubernetes readOnlyRootFilesystem): no worker would boot. /dev/shm is an
# in-memory filesystem that containers keep writable (tests/deploy/test_read_only_root.py).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No runtime control socket: it would live in $HOME/.gunicorn (read-only in the container, and shared by every
# gunicorn of one user on a development machine), and the service needs no remote worker management.
control_socket_disable = True
# One stream, one format: the service writes a JSON "request" line per request itself (method, path without the
# query string, status, duration; probes below INFO), so gunicorn keeps no access log, and its own lines (worker
# boots, timeouts) are JSON lines on stderr too.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "cds_service.logs.JsonFormatter"}},
    "handlers": {"json_stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": []},  # the service's own loggers have their handler (cds_service.logs)
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["json_stderr"], "propagate": False},
                "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False}},
}

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bzd-taper-cds-metrics-")


FULL_COLLECTION_EVERY = 100
"""Collections of the middle generation between two full collections (the interpreter's default is 10)."""


def pre_fork(server, worker):  # type: ignore[no-untyped-def]
    # What the preloaded app holds (terminology, fhir.resources' model classes) lives as long as the worker:
    # frozen, the collector stops rescanning it on every full collection, and its pages stay shared. A call leaves
    # no reference cycle behind (tests/clinical/test_facts.py): what it builds is freed when it ends, and young
    # cycles (werkzeug's few a request) are collected by the first two generations. A full collection, though,
    # walks everything alive — during a long history's call, its whole record: at the interpreter's threshold
    # (every 10 collections of the middle generation) 0.7 of them a call, 3.9 of the 69 ms of a 3,000-order call
    # in process. One in 100 instead (the first two thresholds stay the interpreter's; raising the first to 50,000
    # gained nothing more): 70.0 -> 68.3 ms in process; in the worker, three interleaved pairs of `make bench`
    # case g, 74.0 -> 70.9 ms (medians) at 3,000 orders, 4.48 -> 4.42 ms at 100. The record's elements are not
    # tracked by the collector at all (cds_service/clinical/resources.py).
    gc.freeze()
    first, middle, _oldest = gc.get_threshold()
    gc.set_threshold(first, middle, FULL_COLLECTION_EVERY)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

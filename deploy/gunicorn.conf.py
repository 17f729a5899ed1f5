"""gunicorn settings: sync workers sized to the CPU, timeouts well below an EHR's hook timeout."""

import multiprocessing
import os

bind = os.environ.get("CDS_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("CDS_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 10
graceful_timeout = 10
keepalive = 5
preload_app = True
accesslog = "-"
# The default access-log format includes the query string; ours never carries patient data, but keep
# the line short and free of headers (Authorization must never reach a log).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'

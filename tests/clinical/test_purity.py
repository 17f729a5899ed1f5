"""The clinical core is pure (README "How a call flows"): importing it loads no web framework, database or HTTP client,
and its code never reads the clock or the environment — the time of a call and the settings are passed in.
The import graph itself is checked by import-linter (``make lint``, contract in pyproject.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cds_service.clinical

CLINICAL = Path(cds_service.clinical.__file__).parent


def test_importing_the_clinical_core_loads_neither_the_web_app_nor_its_dependencies() -> None:
    probe = ("import sys, cds_service.clinical, cds_service.clinical.engine, cds_service.clinical.rules; "
             "print(sorted(m for m in ('flask', 'werkzeug', 'sqlalchemy', 'requests', 'cds_service.app') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                   ("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("os", "getenv"),
                   ("os", "environ")}


def test_no_clinical_module_reads_the_clock_or_the_environment() -> None:
    found = []
    for path in sorted(CLINICAL.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and (node.value.id, node.attr) in FORBIDDEN_CALLS:
                found.append(f"{path.relative_to(CLINICAL)}:{node.lineno} {node.value.id}.{node.attr}")
    assert found == []

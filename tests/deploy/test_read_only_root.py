"""The production gunicorn config boots under a read-only root filesystem, as the Kubernetes Deployment runs it
(``readOnlyRootFilesystem: true``), with only the paths the manifests declare writable.

No container engine here: the service runs in a private mount namespace (``unshare --mount``) where every
filesystem is remounted read-only except /proc, /sys and /dev (so /dev/shm, which containers keep
writable) and fresh in-memory mounts on the declared writable paths: the metrics folder (the Deployment's
``emptyDir``) and a data folder standing in for the PostgreSQL database. The remounts are private to the
namespace; the machine's own mounts are untouched.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.utils.scenarios import request as scenario_request
from tests.utils.server import ROOT, gunicorn

READ_ONLY_ROOT = r"""
set -e
awk '$4 !~ /^ro(,|$)/ {print $2}' /proc/self/mounts | sort -u | while read -r mount_point; do
  case "$mount_point" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
  mount -o remount,bind,ro "$mount_point"
done
for writable in $WRITABLE_PATHS; do mount -t tmpfs -o size=64m tmpfs "$writable"; done
exec "$@"
"""


def _read_only_root(writable: list[Path]) -> tuple[str, ...]:
    """A command prefix that runs the rest of the command under a read-only root with ``writable`` paths."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs util-linux's unshare and mount to build a private read-only mount namespace")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unshare --mount is not permitted here (needs root or CAP_SYS_ADMIN): "
                    + probe.stderr.decode(errors="replace").strip())
    paths = " ".join(str(path) for path in writable)
    return ("unshare", "--mount", "--propagation", "private", "--", "env", f"WRITABLE_PATHS={paths}",
            "sh", "-c", READ_ONLY_ROOT, "read-only-root")


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("read-only-root")
    paths = {"metrics": base / "metrics", "data": base / "data"}
    for path in paths.values():
        path.mkdir()
    return paths


def test_the_namespace_is_really_read_only(writable: dict[str, Path]) -> None:
    prefix = _read_only_root(list(writable.values()))
    attempts = {"root": Path("/bzd-probe"), "checkout": ROOT / "bzd-probe", "tmp": Path("/tmp/bzd-probe"),
                "metrics": writable["metrics"] / "probe", "data": writable["data"] / "probe"}
    script = "; ".join(f"touch {path} 2>/dev/null && echo {name}=yes || echo {name}=no"
                       for name, path in attempts.items())
    result = subprocess.run([*prefix, "sh", "-c", script], capture_output=True, text=True, check=True)
    assert dict(line.split("=") for line in result.stdout.split()) == {
        "root": "no", "checkout": "no", "tmp": "no", "metrics": "yes", "data": "yes"}
    assert not (writable["metrics"] / "probe").exists(), "the in-memory mounts must stay private"


@pytest.fixture(scope="module")
def served(writable: dict[str, Path]) -> Iterator[str]:
    prefix = _read_only_root(list(writable.values()))
    data = writable["data"]
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PROMETHEUS_MULTIPROC_DIR": str(writable["metrics"]),
           "CDS_AUTH": "optional", "CDS_TRUSTED_ISSUERS": str(ROOT / "dev/trusted-issuers.dev.json"),
           "CDS_DATA_DIR": str(data), "DATABASE_URL": f"sqlite:///{data}/cds.db"}
    with gunicorn(env, command_prefix=prefix) as base:
        yield base


def test_gunicorn_with_the_production_config_serves_under_a_read_only_root(served: str) -> None:
    assert requests.get(f"{served}/readyz", timeout=10).status_code == 200
    body = scenario_request("baclofen-adjunct-during-diazepam-taper")
    for _ in range(4):  # reach more than one worker
        answer = requests.post(f"{served}/cds-services/bzd-taper-order-sign", json=body, timeout=10)
        assert answer.status_code == 200
        assert [c["source"]["topic"]["code"] for c in answer.json()["cards"]] == ["baclofen-adjunct"]
    metrics = requests.get(f"{served}/metrics", timeout=10).text
    assert 'cds_cards_total{card_type="baclofen-adjunct",indicator="warning"} 4.0' in metrics


def test_the_deployment_declares_exactly_these_writable_paths() -> None:
    """The paths this test makes writable are the ones the Deployment mounts (plus /dev/shm, always there)."""
    deployment = yaml.safe_load((ROOT / "deploy/k8s/deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    writable_mounts = {m["mountPath"] for m in container["volumeMounts"]
                       if not m.get("readOnly") and "emptyDir" in volumes[m["name"]]}
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert writable_mounts == {"/tmp/metrics"}
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/metrics" in dockerfile
    config = (ROOT / "deploy/gunicorn.conf.py").read_text()
    assert 'worker_tmp_dir = "/dev/shm"' in config

"""Offline validation of the deployment files: no Docker engine or cluster here, so the
manifests are validated against the Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields
fail), then checked for what the schemas cannot say — probes on real endpoints, resources, secrets by
reference, non-root — and against the running app where they name its paths."""

from __future__ import annotations

import copy
import gc
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from flask.testing import FlaskClient

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = {path.name: yaml.safe_load(path.read_text()) for path in sorted((DEPLOY / "k8s").glob("*.yaml"))}


KUBERNETES_VERSION = "1.31.0"
"""The oldest Kubernetes release the manifests are written for (autoscaling/v2, policy/v1)."""


@pytest.mark.parametrize("name", sorted(K8S))
def test_manifest_is_valid_against_the_kubernetes_schema(name: str) -> None:
    kubernetes_validate.validate(K8S[name], KUBERNETES_VERSION, strict=True)


def test_the_schema_check_refuses_a_misspelt_field() -> None:
    broken = copy.deepcopy(K8S["deployment.yaml"])
    broken["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {"httpGet": {"path": "/healthz"}}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenessprobe"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_manifest_has_the_kubernetes_basics() -> None:
    kinds = {doc["kind"] for doc in K8S.values()}
    assert kinds == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret",
                     "Ingress"}
    for doc in K8S.values():
        assert doc["apiVersion"] and doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "bzd-taper-cds"


def _container() -> dict[str, Any]:
    [container] = K8S["deployment.yaml"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_deployment_probes_resources_and_security(client: FlaskClient) -> None:
    deployment = K8S["deployment.yaml"]
    spec = deployment["spec"]
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    container = _container()
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        path = container[probe]["httpGet"]["path"]
        assert client.get(path).status_code == 200, f"{probe} path {path} must answer"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_secrets_are_referenced_never_inlined_in_the_deployment() -> None:
    container = _container()
    secret_env = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert {"DATABASE_URL", "CDS_PATIENT_HASH_KEY"} <= secret_env
    text = (DEPLOY / "k8s/deployment.yaml").read_text()
    assert "postgresql+psycopg://" not in text


def test_configmap_variables_are_ones_the_service_reads() -> None:
    config = (Path(__file__).resolve().parents[2] / "cds_service/config.py").read_text()
    for name in K8S["configmap.yaml"]["data"]:
        assert name in config or name == "CDS_WORKERS", name


def test_service_hpa_and_pdb_target_the_deployment() -> None:
    name = K8S["deployment.yaml"]["metadata"]["name"]
    assert K8S["service.yaml"]["spec"]["selector"] == K8S["deployment.yaml"]["spec"]["selector"]["matchLabels"]
    assert K8S["service.yaml"]["spec"]["ports"][0]["targetPort"] == "http"
    assert K8S["hpa.yaml"]["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert K8S["hpa.yaml"]["spec"]["minReplicas"] >= 2
    assert K8S["pdb.yaml"]["spec"]["selector"] == K8S["deployment.yaml"]["spec"]["selector"]


def test_the_ingress_buffers_requests_and_routes_to_the_service() -> None:
    ingress = K8S["ingress.yaml"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "2m"
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        assert path["backend"]["service"] == {"name": K8S["service.yaml"]["metadata"]["name"], "port": {"name": "http"}}


def _routed(path: str) -> bool:
    """Whether the Ingress sends ``path`` to the service (Kubernetes' Prefix matching is by whole segments)."""
    for rule in K8S["ingress.yaml"]["spec"]["rules"][0]["http"]["paths"]:
        if rule["path"] == path or (rule["pathType"] == "Prefix" and path.startswith(rule["path"].rstrip("/") + "/")):
            return True
    return False


def test_the_ingress_routes_what_clients_use_and_not_metrics() -> None:
    """/metrics is for Prometheus inside the cluster: the Ingress used to route every path, /metrics too."""
    for path in ("/cds-services", "/cds-services/bzd-taper-order-sign", "/cds-services/bzd-taper-order-sign/feedback",
                 "/analytics", "/taper-plan", "/openapi.json"):
        assert _routed(path), path
    for path in ("/metrics", "/metrics/", "/healthz", "/readyz", "/"):
        assert not _routed(path), path


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    assert re.search(r"^USER 10001$", dockerfile, re.MULTILINE)
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert "curl " not in dockerfile and "wget " not in dockerfile, "no build-time downloads beyond pip"


def test_compose_runs_the_service_with_postgresql() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert services["cds"]["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert services["cds"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["db"]["image"].startswith("postgres:")
    assert services["prometheus"]["profiles"] == ["monitoring"]
    # Only the buffering proxy is published; gunicorn is reachable from it alone.
    assert services["proxy"]["ports"] == ["8080:8080"] and "ports" not in services["cds"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]


@pytest.mark.parametrize("name", ["gunicorn.conf.py"])
def test_gunicorn_config_uses_threaded_workers_and_a_short_timeout(name: str, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config sets it when absent
    namespace: dict[str, Any] = {}
    exec(compile((DEPLOY / name).read_text(), name, "exec"), namespace)
    assert namespace["worker_class"] == "gthread" and namespace["threads"] >= 8 and namespace["preload_app"] is True
    assert namespace["timeout"] <= 10 and namespace["workers"] >= 1


def test_gunicorn_freezes_the_preloaded_heap_and_spaces_full_collections(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    """Before each worker forks: what the preloaded app holds is frozen, and a full collection (which walks a long
    history's whole record while its call runs) comes once in 100 collections of the middle generation, the first
    two thresholds left as the interpreter's."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    namespace: dict[str, Any] = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    before = gc.get_threshold()
    try:
        namespace["pre_fork"](None, None)
        assert gc.get_threshold() == (before[0], before[1], 100)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

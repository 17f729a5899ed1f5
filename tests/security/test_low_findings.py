"""Smaller hardening findings, one regression test each: JWKS outages, lone surrogates, security headers,
the readiness probe's cost, the patient-hash key in production, the taper-plan's smallest dose, gunicorn's
control socket, chunked bodies over the limit."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm
from sqlalchemy import event

from cds_service import create_app
from cds_service.config import SettingsError
from cds_service.db import engine_for
from cds_service.security import jwt_auth
from tests.conftest import HookCalls, MakeApp
from tests.utils.ehr import BASE, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.server import gunicorn

ISSUER = "https://ehr.example"
JWKS_URL = "https://ehr.example/.well-known/jwks.json"


@responses.activate
def test_a_failed_jwks_refetch_keeps_the_last_good_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        make_app: MakeApp) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "ES384"}
    served = responses.get(JWKS_URL, json={"keys": [jwk]})
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({ISSUER: {"jwks_url": JWKS_URL}}))
    client = make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE}).test_client()

    def discovery(kid: str = "k1") -> int:
        now = int(time.time())
        token = jwt.encode({"iss": ISSUER, "aud": f"{BASE}/cds-services", "iat": now, "exp": now + 60,
                            "jti": uuid.uuid4().hex}, key, algorithm="ES384", headers={"kid": kid})
        return int(client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code)

    monkeypatch.setattr(jwt_auth, "JWKS_REFRESH_MIN_S", 0.0)  # no back-off: each call below may refetch
    assert discovery() == 200
    responses.replace(responses.GET, JWKS_URL, status=503)
    monkeypatch.setattr(jwt_auth, "JWKS_TTL_S", 0.0)  # the cached keys are stale: the next call refetches
    assert discovery() == 200, "the endpoint is down, the last good key still verifies"
    assert discovery("unknown-kid") == 401
    assert served.call_count == 1 and len(responses.calls) >= 2


def test_a_lone_surrogate_in_a_string_is_400_not_500(client: FlaskClient) -> None:
    body = json.dumps(HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12()))
    body = body.replace('"order-sign"', '"order-sign\\ud800"', 1)
    response = client.post("/cds-services/bzd-taper-order-sign", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["diagnostics"] == \
        "the request body is not valid JSON (a string holds a lone UTF-16 surrogate)"


def test_security_headers_and_no_caching_of_cards(client: FlaskClient, hooks: HookCalls) -> None:
    answered = hooks.post(hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12()))
    assert answered.headers["Cache-Control"] == "no-store"
    assert answered.headers["X-Content-Type-Options"] == "nosniff"
    assert answered.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    page = client.get("/taper-plan?drug=diazepam&dose=20")
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "script-src" not in page.headers["Content-Security-Policy"], "the page runs no script"
    assert page.headers["X-Frame-Options"] == "DENY"


def test_readyz_migrates_once_then_only_reads(tmp_path: Path) -> None:
    """create_app's own start on a database it has not migrated yet (so not the test's migrated copy): the
    migration runs at start, never again in a probe."""
    app = create_app({"auth": "off", "database_url": f"sqlite:///{tmp_path}/ready.db"})
    engine = engine_for(app.config["SETTINGS"].database_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(str(args[2]).strip().upper()))
    client = app.test_client()
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
    assert statements == ["SELECT 1"] * 3, "no Alembic run and no write lock per probe"


def test_production_requires_a_patient_hash_key_from_the_environment(tmp_path: Path) -> None:
    """create_app's own refusal at start: no app is made, so no database is used."""
    trust = trust_file(tmp_path, {ISSUER: {}})
    settings: dict[str, Any] = {"auth": "required", "trusted_issuers_file": trust,
                                "database_url": f"sqlite:///{tmp_path}/cds.db"}
    with pytest.raises(SettingsError, match="CDS_PATIENT_HASH_KEY is required with CDS_AUTH=required"):
        create_app({**settings, "patient_hash_key": None})
    with pytest.raises(SettingsError, match="at least 32 characters"):
        create_app({**settings, "patient_hash_key": "change-me"})


def test_the_kubernetes_example_secret_cannot_overwrite_the_real_one() -> None:
    import yaml

    deploy = Path(__file__).resolve().parents[2] / "deploy/k8s"
    example = yaml.safe_load((deploy / "secret.example.yaml").read_text())
    used = yaml.safe_load((deploy / "deployment.yaml").read_text())
    referenced = {env["valueFrom"]["secretKeyRef"]["name"]
                  for env in used["spec"]["template"]["spec"]["containers"][0]["env"] if "valueFrom" in env}
    assert example["metadata"]["name"] not in referenced
    assert len(example["stringData"]["patient-hash-key"]) < 32, "a placeholder the service refuses to start with"


def test_the_smallest_documented_taper_plan_dose_is_accepted(client: FlaskClient) -> None:
    assert client.get("/taper-plan?drug=diazepam&dose=0.1").status_code == 200
    assert client.get("/taper-plan?drug=diazepam&dose=0.09").status_code == 400


def test_gunicorn_control_socket_is_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = Path(__file__).resolve().parents[2] / "deploy/gunicorn.conf.py"
    namespace: dict[str, Any] = {}
    exec(compile(config.read_text(), str(config), "exec"), namespace)
    assert namespace["control_socket_disable"] is True


def test_a_chunked_body_over_the_limit_is_413_and_one_under_it_is_read_whole(tmp_path: Path) -> None:
    body = json.dumps(HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())).encode()
    oversized = b'{"hook": "order-sign", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'

    def chunked(data: bytes) -> Any:  # a generator body: sent with Transfer-Encoding: chunked, no length
        return (data[i:i + 65536] for i in range(0, len(data), 65536))

    with gunicorn({"CDS_AUTH": "off", "DATABASE_URL": f"sqlite:///{tmp_path}/cds.db",
                   "CDS_DATA_DIR": str(tmp_path)}, workers=1) as base:
        url = f"{base}/cds-services/bzd-taper-order-sign"
        headers = {"Content-Type": "application/json"}
        too_large = requests.post(url, data=chunked(oversized), headers=headers, timeout=20)
        whole = requests.post(url, data=chunked(body), headers=headers, timeout=20)
    assert too_large.status_code == 413
    assert too_large.json()["issue"][0]["diagnostics"] == "the request body is larger than 2 MiB"
    assert whole.status_code == 200 and whole.json()["cards"]


def test_the_plan_page_and_every_answer_send_no_referrer(client: FlaskClient) -> None:
    """The plan page's URL carries the drug, dose and age band: a link followed from it must not pass it on."""
    page = client.get("/taper-plan?drug=diazepam&dose=20")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/cds-services").headers["Referrer-Policy"] == "no-referrer"


def test_development_answers_only_requests_addressed_to_this_machine(tmp_path: Path, make_app: MakeApp) -> None:
    """DNS rebinding: a page at attacker.example re-pointed at 127.0.0.1 calls the development service with its
    own name as Host — and through the fallback (loopback allowed in development) would read a FHIR server on
    the developer's machine. Refused with 421 before anything is read."""
    from tests.fhir.test_fhir_hostile_server import Recorder, hook_call
    from tests.utils.fhir_server import base_url, start_fhir_server

    recorder = Recorder()
    server = start_fhir_server(recorder)
    try:
        for auth in ("off", "optional"):
            client = make_app({"auth": auth}).test_client()
            body = hook_call(base_url(server))
            rebound = client.post("/cds-services/bzd-taper-order-sign", json=body,
                                  headers={"Host": "attacker.example:8080"})
            assert rebound.status_code == 421 and rebound.get_json()["issue"][0]["code"] == "security"
            assert client.get("/cds-services", headers={"Host": "attacker.example"}).status_code == 421
            assert recorder.paths == []
            for host in ("localhost:8080", "127.0.0.1:8080", "[::1]:8080"):
                assert client.get("/cds-services", headers={"Host": host}).status_code == 200, host
            answered = client.post("/cds-services/bzd-taper-order-sign", json=body, headers={"Host": "127.0.0.1"})
            assert answered.status_code == 200 and recorder.paths
            recorder.paths.clear()
    finally:
        server.shutdown()
        server.server_close()
    production = make_app({"auth": "required", "trusted_issuers_file": trust_file(tmp_path, {ISSUER: {}}),
                           "public_base_url": BASE, "patient_hash_key": "k" * 32}).test_client()
    assert production.get("/healthz", headers={"Host": "cds.example.org"}).status_code == 200

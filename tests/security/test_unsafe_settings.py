"""Settings that would run without the protection they appear to have are refused at start with a message
that says why; development conveniences stay on the developer's machine.

These tests check create_app's own refusals at start, so they call it themselves (``app_with``): a refused start
makes no app and writes no database; the few that start give each test its own file under ``tmp_path``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cds_service import create_app
from cds_service.config import SettingsError
from tests.utils.ehr import BASE, token, trust_file

ROOT = Path(__file__).resolve().parents[2]
DEV_TRUST = ROOT / "dev/trusted-issuers.dev.json"
ISSUER = "https://ehr.example"


def app_with(tmp_path: Path, **settings: Any) -> Any:
    return create_app({"database_url": f"sqlite:///{tmp_path}/cds.db", **settings})


def test_required_auth_with_the_development_trust_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CDS_AUTH=required with the development trust file"):
        app_with(tmp_path, auth="required", trusted_issuers_file=DEV_TRUST)


def test_the_development_trust_file_on_a_public_base_url_is_refused(tmp_path: Path) -> None:
    message = "CDS_PUBLIC_BASE_URL https://cds.example.org is not this machine"
    with pytest.raises(SettingsError, match=re.escape(message)):
        app_with(tmp_path, auth="optional", trusted_issuers_file=DEV_TRUST, public_base_url="https://cds.example.org")


def test_required_auth_without_trusted_issuers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="names no issuer: every call would be refused"):
        app_with(tmp_path, auth="required")
    empty = tmp_path / "empty.json"
    empty.write_text('{"_comment": "nobody yet"}')
    with pytest.raises(SettingsError, match="names no issuer"):
        app_with(tmp_path, auth="required", trusted_issuers_file=empty)


@pytest.mark.parametrize("content", [None, "{not json", '["a list"]'])
def test_a_missing_or_malformed_trust_file_is_a_clear_message(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "issuers.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError, match=f"CDS_TRUSTED_ISSUERS: .*{path.name}"):
        app_with(tmp_path, auth="required", trusted_issuers_file=path)


def test_gunicorn_start_with_unsafe_settings_prints_the_reason_not_a_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": str(DEV_TRUST),
           "CDS_DATA_DIR": str(tmp_path), "CDS_BIND": "127.0.0.1:0", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "--config", "deploy/gunicorn.conf.py",
                             "cds_service:create_app()"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "CDS_AUTH=required with the development trust file" in result.stderr
    assert "Traceback" not in result.stderr


def test_cors_star_is_refused_and_loopback_allows_only_this_machine(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CDS_CORS_ORIGINS=\\* would let any web page call the service"):
        app_with(tmp_path, auth="off", cors_origins=("*",))
    client = app_with(tmp_path, auth="off", cors_origins=("loopback",)).test_client()

    def allowed(origin: str) -> str | None:
        response = client.options("/cds-services", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true"})
        return response.headers.get("Access-Control-Allow-Origin")

    for origin in ("http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173", "http://localhost"):
        assert allowed(origin) == origin
    for origin in ("https://evil.example", "http://localhost.evil.example", "http://127.0.0.1.evil.example:80",
                   "null"):
        assert allowed(origin) is None


def test_run_dev_allows_loopback_origins_only() -> None:
    script = (ROOT / "scripts/run-dev.sh").read_text()
    assert "CDS_CORS_ORIGINS=\"${CDS_CORS_ORIGINS:-loopback}\"" in script and "CDS_CORS_ORIGINS='*'" not in script


def test_development_401_says_why_production_401_does_not(tmp_path: Path) -> None:
    trust = trust_file(tmp_path, {ISSUER: {}})
    expected = f"{BASE}/cds-services"
    reasons = [
        (token(ISSUER, f"{BASE}/cds-services/x"), f"unauthorized: wrong audience: expected {expected}"),
        (token("https://nobody.example", expected), "unauthorized: issuer 'https://nobody.example' is not trusted"),
    ]
    development = app_with(tmp_path, auth="optional", trusted_issuers_file=trust).test_client()
    production = app_with(tmp_path, auth="required", trusted_issuers_file=trust).test_client()
    for bearer, message in reasons:
        dev = development.get("/cds-services", headers={"Authorization": f"Bearer {bearer}"})
        assert (dev.status_code, dev.get_json()["issue"][0]["diagnostics"]) == (401, message)
        prod = production.get("/cds-services", headers={"Authorization": f"Bearer {bearer}"})
        assert (prod.status_code, prod.get_json()["issue"][0]["diagnostics"]) == (401, "unauthorized")


def test_development_accepts_both_spellings_of_this_machine_in_the_audience(tmp_path: Path) -> None:
    trust = trust_file(tmp_path, {ISSUER: {}})
    development = app_with(tmp_path, auth="optional", trusted_issuers_file=trust).test_client()
    production = app_with(tmp_path, auth="required", trusted_issuers_file=trust).test_client()
    for audience in (f"{BASE}/cds-services", "http://localhost:8080/cds-services"):
        headers = {"Authorization": f"Bearer {token(ISSUER, audience)}"}
        assert development.get("/cds-services", headers=headers).status_code == 200
    localhost = {"Authorization": f"Bearer {token(ISSUER, 'http://localhost:8080/cds-services')}"}
    assert production.get("/cds-services", headers=localhost).status_code == 401


def test_the_bearer_scheme_is_case_insensitive(tmp_path: Path) -> None:
    trust = trust_file(tmp_path, {ISSUER: {}})
    client = app_with(tmp_path, auth="required", trusted_issuers_file=trust).test_client()
    for scheme in ("bearer", "BEARER", "Bearer"):
        bearer = token(ISSUER, f"{BASE}/cds-services")
        assert client.get("/cds-services", headers={"Authorization": f"{scheme} {bearer}"}).status_code == 200


@pytest.mark.parametrize("auth", ["off", "optional"])
def test_development_auth_on_a_public_https_base_url_is_refused(tmp_path: Path, auth: str) -> None:
    with pytest.raises(SettingsError, match=f"CDS_AUTH={auth} with CDS_PUBLIC_BASE_URL https://cds.example.org: "):
        app_with(tmp_path, auth=auth, public_base_url="https://cds.example.org")
    app_with(tmp_path, auth=auth, public_base_url="http://localhost:8080")  # a developer's machine starts


@pytest.mark.parametrize("origin", [".*", "null", "https://.*\\.example\\.org", "https://*.example.org",
                                    "https://sandbox.example/", "sandbox.example"])
def test_cors_origins_that_are_patterns_or_null_are_refused(tmp_path: Path, origin: str) -> None:
    """flask-cors reads ``.*`` as a regular expression that every origin matches; ``null`` is what any
    sandboxed frame sends."""
    with pytest.raises(SettingsError, match="is not an origin"):
        app_with(tmp_path, auth="off", cors_origins=("https://sandbox.example", origin))


@pytest.mark.parametrize(("token", "message"), [
    ("a" * 40, "repeats a few characters"),
    ("abab" * 10, "repeats a few characters"),
    ("0123456789abcdef" * 3, "equals CDS_PATIENT_HASH_KEY"),
])
def test_a_weak_operator_token_or_one_equal_to_the_hash_key_is_refused(tmp_path: Path, token: str,
                                                                       message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        app_with(tmp_path, auth="off", operator_token=token, patient_hash_key="0123456789abcdef" * 3)

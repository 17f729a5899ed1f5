"""``bzd-taper-cds evaluate REQUEST.json [--json]``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from cds_service.cli import main
from cds_service.clinical.cards import CARD_TYPES
from cds_service.version import knowledge_version, package_version
from demo.fhir_server import create_app as demo_app
from demo.fhir_server import demo_patients, hook_request
from tests.utils.cards import assert_valid_response
from tests.utils.fhir_server import base_url, send_json, start_fhir_server
from tests.utils.scenarios import folder
from tests.utils.scenarios import request as scenario_request


def test_evaluate_prints_a_readable_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(folder("baclofen-adjunct-during-diazepam-taper") / "request.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("1. [WARNING] baclofen-adjunct: Baclofen is not a benzodiazepine-taper adjunct: remove it; "
                      "consider gabapentin or CBT instead")
    assert out[1:] == ["     suggestion: Remove the baclofen order (delete)",
                       "     suggestion: Replace baclofen with gabapentin 100 mg at bedtime (create, delete)",
                       "     suggestion: Refer for CBT to support the taper (create)"]


def test_evaluate_json_prints_the_exact_response_body(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--json", str(folder("s07-same-day-switch-alprazolam-to-diazepam") / "request.json")]) == 0
    body = json.loads(capsys.readouterr().out)
    assert_valid_response(body)
    assert [c["source"]["topic"]["code"] for c in body["cards"]] == ["conversion-ambiguity"]


def test_evaluate_order_select_and_no_cards(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(folder("baclofen-adjunct-order-select-not-selected") / "request.json")]) == 0
    assert capsys.readouterr().out.strip() == "No cards: nothing to say about these orders."


def test_evaluate_rejects_invalid_and_incomplete_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hook": "order-sign"}')
    assert main(["evaluate", str(bad)]) == 2
    assert "hookInstance" in capsys.readouterr().err
    request = scenario_request("s02-step-30-percent-too-fast")
    del request["prefetch"]["conditions"]
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps(request))
    assert main(["evaluate", str(incomplete)]) == 3
    assert "conditions" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.json")]) == 2


DEMO_REQUEST = Path(__file__).resolve().parents[1] / "demo/order-baclofen.json"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"bzd-taper-cds {package_version()} (knowledge {knowledge_version()})\n"


def test_the_readme_demo_request_evaluates_offline_and_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--explain", str(DEMO_REQUEST)]) == 0
    out = capsys.readouterr().out
    table, explanation = out.split("\n\nFacts:\n")
    assert table.splitlines()[0].startswith("1. [WARNING] baclofen-adjunct: Baclofen is not a benzodiazepine-taper")
    lines = explanation.splitlines()
    assert "  Evaluated at 2026-03-16 with profile summary and the Ashton table." in lines
    assert "  Benzodiazepines: 12 mg diazepam-equivalent/day now, 12 mg after these orders." in lines
    assert ("  Days of use in this episode: 196; likely physically dependent: yes; more than a year: no; "
            "in a taper: yes.") in lines
    fired = lines.index("  baclofen-adjunct: FIRED [warning] Baclofen is not a benzodiazepine-taper adjunct: remove "
                        "it; consider gabapentin or CBT instead")
    assert lines[fired + 1] == ("      because: Benzodiazepine total reduced from 15 mg to 12 mg "
                                "diazepam-equivalent/day on 2026-03-02 (20 %; Ashton table).")
    assert "  z-drug-during-taper: silent — needs a Z-drug draft, which this call does not show" in lines
    assert ("  taper-too-fast: silent — needs a benzodiazepine draft that lowers the total diazepam-equivalent, "
            "which this call does not show") in lines
    rules = [line.split(":")[0].strip() for line in lines[lines.index("Rules:") + 1:] if not line.startswith("      ")]
    assert sorted(rules) == sorted(CARD_TYPES), "every rule is accounted for"


def test_explain_names_the_card_that_outranks_a_silent_rule(capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fhir_fixtures"
    request = next(fixtures.rglob("s04-lorazepam-stopped-abruptly/request.json"))
    assert main(["evaluate", "--explain", str(request)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("  abrupt-discontinuation: FIRED [critical]") for line in lines)
    assert ("  taper-too-fast: silent — the abrupt-discontinuation card speaks for this step (it outranks this rule)"
            in lines)


def test_evaluate_is_offline_unless_fetch_is_given(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    patient = demo_patients()["demo-older-adult"]
    demo = demo_app(today=lambda: patient.anchor).test_client()
    paths: list[str] = []

    def from_demo_server(handler: BaseHTTPRequestHandler) -> None:
        paths.append(handler.path)
        answer = demo.get(handler.path)
        send_json(handler, answer.data, answer.status_code)

    server = start_fhir_server(from_demo_server, keep_alive=True)
    url = base_url(server)
    monkeypatch.setenv("CDS_FHIR_ALLOWED", url)  # the command line runs with production settings
    request = tmp_path / "request.json"
    request.write_text(json.dumps(hook_request(patient.id, url, patient.anchor)))
    try:
        assert main(["evaluate", str(request)]) == 3
        assert paths == [], "offline by default: the FHIR server is never called"
        assert capsys.readouterr().err.endswith(f"(offline; --fetch reads them from {url})\n")
        assert main(["evaluate", "--fetch", str(request)]) == 0
        assert len(paths) == 6
    finally:
        server.shutdown()
        server.server_close()
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if line[:1].isdigit()] == [
        "1. [CRITICAL] abrupt-discontinuation", "2. [WARNING] long-term-rate", "3. [WARNING] older-adult"]


def test_evaluate_fetch_from_a_server_on_this_machine_names_the_setting_that_allows_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's demo FHIR server runs on 127.0.0.1: the command line (production settings) refuses it and says
    which setting allows it; with the setting it reads the record."""
    patient = demo_patients()["demo-older-adult"]
    demo = demo_app(today=lambda: patient.anchor).test_client()

    def from_demo_server(handler: BaseHTTPRequestHandler) -> None:
        answer = demo.get(handler.path)
        send_json(handler, answer.data, answer.status_code)

    server = start_fhir_server(from_demo_server, keep_alive=True)
    url = base_url(server)
    monkeypatch.delenv("CDS_FHIR_ALLOWED", raising=False)
    request = tmp_path / "request.json"
    request.write_text(json.dumps(hook_request(patient.id, url, patient.anchor)))
    try:
        assert main(["evaluate", "--fetch", str(request)]) == 3
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith("cannot evaluate: prefetch data missing or incomplete: patient, medicationRequests")
        assert err[1:] == [f"  {url}: fhirServer resolves to a non-public address; list its base URL in "
                           "CDS_FHIR_ALLOWED (or the issuer's fhir_servers in the trust file) to allow it",
                           f"  e.g. CDS_FHIR_ALLOWED={url} bzd-taper-cds evaluate --fetch {request}"]
        monkeypatch.setenv("CDS_FHIR_ALLOWED", url)
        assert main(["evaluate", "--fetch", str(request)]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert capsys.readouterr().out.startswith("1. [CRITICAL] abrupt-discontinuation")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("CDS_TAPER_PROFILE", "strict", "bzd-taper-cds: CDS_TAPER_PROFILE must be one of summary, joint-2025 "
                                    "(got 'strict')"),
    ("CDS_FHIR_TIMEOUT_S", "soon", "bzd-taper-cds: CDS_FHIR_TIMEOUT_S must be a number (got 'soon')"),
])
def test_a_bad_setting_is_one_line_not_a_traceback(name: str, value: str, message: str, tmp_path: Path) -> None:
    env = {**os.environ, name: value}
    result = subprocess.run([str(Path(sys.executable).parent / "bzd-taper-cds"), "evaluate", str(DEMO_REQUEST)],
                            env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == message + "\n"


def test_report_from_another_folder_does_not_create_an_empty_database(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "var"))
    assert main(["report"]) == 1
    assert capsys.readouterr().err == (
        f"no card log at {tmp_path / 'var/bzd-taper-cds.db'}: run the command where the service keeps its data (the "
        "folder holding var/), or set DATABASE_URL or CDS_DATA_DIR as the service has them\n")
    assert not (tmp_path / "var").exists()

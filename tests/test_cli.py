"""``bzd-taper-cds evaluate REQUEST.json [--json]``."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from cds_service.cli import main
from cds_service.clinical.cards import CARD_TYPES
from demo.fhir_server import create_app as demo_app
from demo.fhir_server import demo_patients, hook_request
from tests.utils.cards import assert_valid_response
from tests.utils.fhir_server import base_url, send_json, start_fhir_server

FIXTURES = Path(__file__).resolve().parents[1] / "fhir_fixtures"


def test_evaluate_prints_a_readable_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(FIXTURES / "baclofen-adjunct-during-diazepam-taper/request.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("1. [WARNING] baclofen-adjunct: Baclofen is not a benzodiazepine-taper adjunct: remove it; "
                      "consider gabapentin or CBT instead")
    assert out[1:] == ["     suggestion: Remove the baclofen order (delete)",
                       "     suggestion: Replace baclofen with gabapentin 100 mg at bedtime (create, delete)",
                       "     suggestion: Refer for CBT to support the taper (create)"]


def test_evaluate_json_prints_the_exact_response_body(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--json", str(FIXTURES / "s07-same-day-switch-alprazolam-to-diazepam/request.json")]) == 0
    body = json.loads(capsys.readouterr().out)
    assert_valid_response(body)
    assert [c["source"]["topic"]["code"] for c in body["cards"]] == ["conversion-ambiguity"]


def test_evaluate_order_select_and_no_cards(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(FIXTURES / "baclofen-adjunct-order-select-not-selected/request.json")]) == 0
    assert capsys.readouterr().out.strip() == "No cards: nothing to say about these orders."


def test_evaluate_rejects_invalid_and_incomplete_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hook": "order-sign"}')
    assert main(["evaluate", str(bad)]) == 2
    assert "hookInstance" in capsys.readouterr().err
    request = json.loads((FIXTURES / "s02-step-30-percent-too-fast/request.json").read_text())
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
    assert capsys.readouterr().out == "bzd-taper-cds 0.1.0\n"


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

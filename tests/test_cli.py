"""``bzd-taper-cds evaluate REQUEST.json [--json]`` (issue #8 item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.cli import main
from tests.utils.cards import assert_valid_response

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

"""Every folder of fhir_fixtures/ is a clinical scenario run through the HTTP API (issue #4 item 9).

A folder holds ``request.json`` (a whole hook request, R4 resources in its prefetch) and
``expected.json``: the service to call, the cards expected (type and indicator, most severe first),
the card types that must *not* appear, and optionally settings (profile, equivalence table).
Adding a clinical case means adding a folder, not code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_service import create_app
from tests.conftest import HookCalls, card_types

FIXTURES = Path(__file__).resolve().parents[2] / "fhir_fixtures"
SCENARIOS = sorted(p for p in FIXTURES.iterdir() if (p / "expected.json").exists())


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario(scenario: Path) -> None:
    expected = _load(scenario / "expected.json")
    app = create_app({"auth": "off", **expected.get("settings", {})})
    hooks = HookCalls(app.test_client())
    cards = hooks.cards(_load(scenario / "request.json"), service_id=expected["service"])
    assert card_types(cards) == [(c["type"], c["indicator"]) for c in expected["cards"]], expected["description"]
    fired = {card_type for card_type, _ in card_types(cards)}
    assert not fired & set(expected["absent"]), f"must not fire: {fired & set(expected['absent'])}"


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 45

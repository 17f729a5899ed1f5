"""Requests in the styles of real clients, replayed against the service, and the Inferno CRD server
suite's generic checks as assertions (CDS Hooks 2.0 "Interop smoke")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import HookCalls, card_types

REQUESTS = Path(__file__).parent / "requests"


def _load(name: str) -> dict[str, Any]:
    return json.loads((REQUESTS / name).read_text(encoding="utf-8"))


def test_inferno_discovery_checks(client: FlaskClient) -> None:
    response = client.get("/cds-services", headers={"Accept": "application/json"})
    assert response.status_code == 200
    body = json.loads(response.data)  # "valid JSON"
    assert isinstance(body["services"], list) and body["services"]
    for service in body["services"]:
        assert all(isinstance(service[field], str) for field in ("hook", "description", "id"))


def test_sandbox_style_order_sign_gets_the_baclofen_card(hooks: HookCalls) -> None:
    """The public sandbox: Bundle without type, object category, {pill} units, fhirServer without token."""
    body = _load("sandbox-order-sign.json")
    [card] = hooks.cards(body)
    assert card_types([card]) == [("baclofen-adjunct", "warning")]
    assert "reduced from 15 mg to 12 mg diazepam-equivalent/day on 2026-03-02 (20 %" in card["detail"]


def test_inferno_style_order_select_with_nothing_to_say(hooks: HookCalls) -> None:
    response = hooks.post(_load("inferno-order-select.json"), "bzd-taper-order-select")
    assert response.status_code == 200
    body = json.loads(response.data)
    assert body == {"cards": []}

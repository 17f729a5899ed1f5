"""Every demo patient has an order the public CDS Hooks sandbox can enter (``demo/sandbox_orders.json``, shown in
docs/integrating.md): sent as the sandbox builds its draft — the product by RxNorm code, a whole number of 1-5
units a dose, one to four doses a day, today's ``authoredOn``, no ``priorPrescription`` — with the patient's record
as of today, it gives the cards the guide promises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.clinical.cards import CARD_TYPES
from demo.fhir_server import demo_patients, hook_request, today_utc
from tests.conftest import HookCalls
from tests.utils.server import ROOT

ORDERS: list[dict[str, Any]] = json.loads((ROOT / "demo/sandbox_orders.json").read_text())["orders"]
FREQUENCY = {"daily": 1, "bid": 2, "tid": 3, "qid": 4}


def sandbox_draft(order: dict[str, Any], on: str) -> dict[str, Any]:
    """The MedicationRequest the sandbox's Rx View builds (its medication reducer, R4)."""
    return {
        "resourceType": "MedicationRequest", "id": "request-123", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{order['patient']}"}, "authoredOn": on,
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                 "code": "community"}]},
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": FREQUENCY[order["frequency"]], "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": order["number"], "system": "http://unitsofmeasure.org",
                                              "code": "{pill}"}}]}],
        "medicationCodeableConcept": {"text": order["product"], "coding": [{
            "display": order["product"], "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": order["rxnorm"]}]},
    }


def test_every_demo_patient_has_a_sandbox_order() -> None:
    assert sorted(o["patient"] for o in ORDERS) == sorted(demo_patients())
    for order in ORDERS:
        assert 1 <= order["number"] <= 5 and order["frequency"] in FREQUENCY
        assert {card for card, _ in order["cards"]} <= set(CARD_TYPES)


@pytest.mark.parametrize("order", ORDERS, ids=[o["patient"] for o in ORDERS])
def test_the_sandbox_order_gives_the_cards_the_guide_names(client: FlaskClient, order: dict[str, Any]) -> None:
    today = today_utc()
    body = hook_request(order["patient"], None, today, with_prefetch=True)  # the sandbox prefetches the record
    body["context"]["draftOrders"]["entry"] = [{"resource": sandbox_draft(order, today.isoformat())}]
    cards = HookCalls(client).cards(body)
    assert [[c["source"]["topic"]["code"], c["indicator"]] for c in cards] == order["cards"]


def test_the_guide_shows_every_sandbox_order() -> None:
    guide = (ROOT / "docs/integrating.md").read_text(encoding="utf-8")
    for order in ORDERS:
        cards = ", ".join(f"`{card}` ({indicator})" for card, indicator in order["cards"]) or "none"
        row = (f"| `{order['patient']}` | {order['product']} (RxNorm {order['rxnorm']}), Number {order['number']}, "
               f"{order['frequency']} | {cards} |")
        assert row in guide, row

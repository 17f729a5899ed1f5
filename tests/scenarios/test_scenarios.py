"""Every scenario folder of fhir_fixtures/ (``<group>/<name>/``) is a clinical case run through the HTTP API.

A folder holds ``request.json`` (a whole hook request, R4 resources in its prefetch) and ``expected.json``.
Adding a clinical case means adding a folder, not code; ``tests/utils/scenario_builder.py`` writes both files
from a short description. ``expected.json`` members:

- ``description``, ``service``, optional ``settings`` (profile, equivalence table);
- ``cards``: the cards expected, in order (most severe first), each ``type`` and ``indicator`` and optionally
  what the prescriber reads on it:

  - ``summary`` (exact), ``summary_contains`` / ``detail_contains`` (exact fragments),
    ``summary_matches`` / ``detail_matches`` (regular expressions, ``re.search``), ``excludes`` (fragments
    in neither summary nor detail);
  - ``suggestions``: every suggestion in order, each with ``label`` (exact) or ``label_contains``, optionally
    ``actions`` (the action types in order), ``daily_mg`` (the daily dose, in mg, of the MedicationRequest
    the suggestion creates or updates — computed here from the resource's own dosage and the product's
    strength), ``dispense`` (what its last MedicationRequest dispenses: ``quantity``, ``unit``, ``supply``,
    ``refills``; ``null`` for none) and ``as_needed`` (every dosage line as needed, or none);
- ``absent``: card types that must not appear; ``nowhere``: fragments that no card's text may contain.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HookCalls, app_on, card_types
from tests.utils.cards import CARD_TYPES
from tests.utils.scenarios import ROOT, SCENARIOS

_PERIOD_DAYS = {"h": Fraction(1, 24), "d": Fraction(1), "wk": Fraction(7)}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _strength_mg() -> dict[str, Fraction]:
    rows = _load(ROOT / "cds_service" / "clinical" / "terminology" / "products.json")["products"]
    return {row["code"]: Fraction(row["strength_mg"]) for row in rows if row.get("strength_mg")}


def daily_mg(resource: dict[str, Any]) -> Fraction:
    """Daily mg of a suggested MedicationRequest as its dosage reads: dose × frequency ÷ period (an as-needed
    line at most its ``maxDosePerPeriod``)."""
    code = resource["medicationCodeableConcept"]["coding"][0]["code"]
    total = Fraction(0)
    for line in resource["dosageInstruction"]:
        repeat = line["timing"]["repeat"]
        # an R4 order, or an STU3 one (medication-prescribe) with the dose directly on the dosage
        quantity = line["doseAndRate"][0]["doseQuantity"] if "doseAndRate" in line else line["doseQuantity"]
        dose = Fraction(str(quantity["value"]))
        if quantity.get("code") != "mg":
            dose *= _strength_mg()[code]
        per_day = Fraction(repeat.get("frequency", 1)) / (Fraction(str(repeat.get("period", 1)))
                                                          * _PERIOD_DAYS[repeat.get("periodUnit", "d")])
        line_mg = dose * per_day
        if "maxDosePerPeriod" in line:  # an as-needed line: at most its maximum a day
            ceiling = line["maxDosePerPeriod"]["numerator"]
            most = Fraction(str(ceiling["value"])) * (1 if ceiling.get("code") == "mg" else _strength_mg()[code])
            line_mg = min(line_mg, most / (Fraction(str(line["maxDosePerPeriod"]["denominator"]["value"]))
                                           * _PERIOD_DAYS[line["maxDosePerPeriod"]["denominator"]["code"]]))
        total += line_mg
    return total


def _text_checks(card: dict[str, Any], want: dict[str, Any], where: str) -> None:
    summary, detail = card["summary"], card.get("detail", "")
    if "summary" in want:
        assert summary == want["summary"], where
    for fragment in want.get("summary_contains", []):
        assert fragment in summary, f"{where}: summary lacks {fragment!r}: {summary!r}"
    for fragment in want.get("detail_contains", []):
        assert fragment in detail, f"{where}: detail lacks {fragment!r}:\n{detail}"
    for pattern in want.get("summary_matches", []):
        assert re.search(pattern, summary), f"{where}: summary does not match {pattern!r}: {summary!r}"
    for pattern in want.get("detail_matches", []):
        assert re.search(pattern, detail), f"{where}: detail does not match {pattern!r}:\n{detail}"
    for fragment in want.get("excludes", []):
        assert fragment not in summary and fragment not in detail, f"{where}: must not say {fragment!r}"


def _suggestion_checks(card: dict[str, Any], wanted: list[dict[str, Any]], where: str) -> None:
    got = card.get("suggestions", [])
    assert len(got) == len(wanted), f"{where}: suggestions {[s['label'] for s in got]}"
    for suggestion, want in zip(got, wanted, strict=True):
        label = suggestion["label"]
        if "label" in want:
            assert label == want["label"], where
        if "label_contains" in want:
            assert want["label_contains"] in label, f"{where}: {label!r}"
        if "actions" in want:
            assert [a["type"] for a in suggestion["actions"]] == want["actions"], f"{where}: {label!r}"
        if "daily_mg" in want:
            orders = [a["resource"] for a in suggestion["actions"] if a["type"] in ("create", "update")
                      and a["resource"]["resourceType"] == "MedicationRequest"]
            assert orders, f"{where}: {label!r} orders nothing"
            assert daily_mg(orders[0]) == Fraction(str(want["daily_mg"])), f"{where}: {label!r}"
        if "dispense" in want:
            assert dispensed(_ordered(suggestion)) == want["dispense"], f"{where}: {label!r}"
        if "as_needed" in want:
            lines = _ordered(suggestion)["dosageInstruction"]
            assert all(bool(line.get("asNeededBoolean")) == want["as_needed"] for line in lines), \
                f"{where}: {label!r}"


def _ordered(suggestion: dict[str, Any]) -> dict[str, Any]:
    orders = [a["resource"] for a in suggestion["actions"] if a["type"] in ("create", "update")
              and a["resource"]["resourceType"] == "MedicationRequest"]
    assert orders, f"{suggestion['label']!r} orders nothing"
    last: dict[str, Any] = orders[-1]
    return last


def dispensed(order: dict[str, Any]) -> dict[str, Any] | None:
    """What a suggested order dispenses, as the pharmacist reads it: quantity and its unit, the days of supply,
    the refills, and the daily maximum of an as-needed order (``None`` without ``dispenseRequest``)."""
    request = order.get("dispenseRequest")
    if request is None:
        return None
    duration = request.get("expectedSupplyDuration", {})
    return {"quantity": request["quantity"]["value"], "unit": request["quantity"].get("unit"),
            "supply": f"{duration.get('value')} {duration.get('unit')}",
            "refills": request.get("numberOfRepeatsAllowed")}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario(scenario: Path, database_url: str) -> None:
    expected = _load(scenario / "expected.json")
    with app_on(database_url, expected.get("settings", {})) as app:
        cards = HookCalls(app.test_client()).cards(_load(scenario / "request.json"), service_id=expected["service"])
    assert card_types(cards) == [(c["type"], c["indicator"]) for c in expected["cards"]], expected["description"]
    fired = {card_type for card_type, _ in card_types(cards)}
    assert not fired & set(expected["absent"]), f"must not fire: {fired & set(expected['absent'])}"
    for index, (card, want) in enumerate(zip(cards, expected["cards"], strict=True)):
        where = f"card {index + 1} ({want['type']})"
        _text_checks(card, want, where)
        if "suggestions" in want:
            _suggestion_checks(card, want["suggestions"], where)
    for fragment in expected.get("nowhere", []):
        for card in cards:
            assert fragment not in card["summary"] + card.get("detail", ""), f"no card may say {fragment!r}"


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 45


def test_daily_mg_reads_a_suggested_order() -> None:
    """The scenario checker's own arithmetic: 1.5 diazepam 5 mg tablets twice a day is 15 mg/day."""
    order = {"medicationCodeableConcept": {"coding": [{"code": "197591"}]}, "dosageInstruction": [
        {"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
         "doseAndRate": [{"doseQuantity": {"value": 1.5, "code": "{tablet}"}}]},
        {"timing": {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}},
         "doseAndRate": [{"doseQuantity": {"value": 2.5, "code": "mg"}}]}]}
    assert daily_mg(order) == Fraction(20)


def test_every_card_type_has_a_scenario_asserting_what_the_prescriber_reads() -> None:
    text_keys = {"summary", "summary_contains", "detail_contains", "summary_matches", "detail_matches"}
    asserted = {card["type"] for scenario in SCENARIOS for card in _load(scenario / "expected.json")["cards"]
                if text_keys & set(card)}
    assert asserted >= CARD_TYPES, f"no text asserted for {sorted(CARD_TYPES - asserted)}"


def test_every_card_type_fires_in_an_stu3_medication_prescribe_scenario() -> None:
    """docs/clinical-reference.md §7l: the legacy hook reads drafts and history in STU3 shapes — each card type
    has a scenario sent that way."""
    legacy = [s for s in SCENARIOS if _load(s / "expected.json")["service"] == "bzd-taper-medication-prescribe"
              and '"doseAndRate"' not in (s / "request.json").read_text(encoding="utf-8")]
    fired = {card["type"] for scenario in legacy for card in _load(scenario / "expected.json")["cards"]}
    assert fired >= CARD_TYPES, f"no STU3 medication-prescribe scenario for {sorted(CARD_TYPES - fired)}"

"""Rate cards and their one-click fixes, through the HTTP API, with exact numbers.

Accepting a suggestion and re-signing must not produce the same card again.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ScenarioHooks, card_types
from tests.utils.cards import accept
from tests.utils.scenarios import expected as scenario_expected
from tests.utils.scenarios import request as scenario_request


def scenario(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return scenario_request(name), scenario_expected(name)


def card(cards: list[dict[str, Any]], card_type: str) -> dict[str, Any]:
    [found] = [c for c in cards if c["source"]["topic"]["code"] == card_type]
    return found


def dosage_lines(resource: dict[str, Any]) -> list[tuple[float, str, int, list[str]]]:
    """(amount, unit, times a day, times of day) of each dosage line, as the prescription reads."""
    return [(line["doseAndRate"][0]["doseQuantity"]["value"], line["doseAndRate"][0]["doseQuantity"]["code"],
             line["timing"]["repeat"]["frequency"], line["timing"]["repeat"].get("when", []))
            for line in resource["dosageInstruction"]]


def test_too_fast_step_suggests_the_largest_compliant_step_with_the_drafts_product(
        scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("s02-step-30-percent-too-fast")
    hooks = scenario_hooks(expected)
    too_fast = card(hooks.cards(body), "taper-too-fast")
    assert "20 mg → 14 mg diazepam-equivalent/day (30 % reduction; Ashton table)" in too_fast["detail"]
    assert "step of 30 % exceeds 25 % of the current dose" in too_fast["detail"]
    [fix] = too_fast["suggestions"]
    assert fix["label"] == "Reduce to 15 mg/day instead (≤ 25 % step)"
    [update] = fix["actions"]
    resource = update["resource"]
    assert update["type"] == "update" and resource["id"] == "d1" and resource["status"] == "draft"
    assert resource["priorPrescription"] == {"reference": "MedicationRequest/o2"}
    # the draft's own product (diazepam 2 mg tablet, coded as sent) with only the dose changed, in the patient's
    # current two doses a day (10 mg twice daily), not the draft's one
    assert resource["medicationCodeableConcept"] == body["context"]["draftOrders"]["entry"][0]["resource"][
        "medicationCodeableConcept"]
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "197590"
    assert dosage_lines(resource) == [(3.5, "{tablet}", 1, ["MORN"]), (4.0, "{tablet}", 1, ["HS"])]
    assert update["description"] == ("Change the order to diazepam 2 MG Oral Tablet: 3½ tablets (7 mg) in the morning "
                                     "and 4 tablets (8 mg) at bedtime (15 mg/day)")
    resigned = hooks.cards(accept(body, fix))
    assert card_types(resigned) == [("taper-support", "info")], "the accepted step is compliant: no warning"


def test_abrupt_stop_suggests_uneven_divided_doses_that_keep_the_pace(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("s04-lorazepam-stopped-abruptly")
    hooks = scenario_hooks(expected)
    cards = hooks.cards(body)
    abrupt = card(cards, "abrupt-discontinuation")
    assert abrupt["indicator"] == "critical"
    assert "30 mg → 0 mg diazepam-equivalent/day (100 % reduction; Ashton table)" in abrupt["detail"]
    assert "Likely physically dependent (2025 Joint Guideline Table 2): 745 days of use." in abrupt["detail"]
    [fix] = abrupt["suggestions"]
    # long-term user: at most 10 % in 30 days of 1 mg three times a day → 0.5 mg tablets 1 + 0.75 + 1 mg (−8.3 %)
    assert fix["label"] == "Reduce to 2.75 mg/day instead (≤ 10 % step)"
    [update] = fix["actions"]
    assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "197900"
    assert dosage_lines(update["resource"]) == [(2.0, "{tablet}", 2, ["MORN", "HS"]), (1.5, "{tablet}", 1, ["NOON"])]
    assert update["description"] == (
        "Change the order to lorazepam 0.5 MG Oral Tablet: 2 tablets (1 mg) in the morning, 1½ tablets (0.75 mg) "
        "at midday and 2 tablets (1 mg) at bedtime (2.75 mg/day)")
    resigned = hooks.cards(accept(body, fix))
    assert "abrupt-discontinuation" not in {c["source"]["topic"]["code"] for c in resigned}
    assert "long-term-rate" not in {c["source"]["topic"]["code"] for c in resigned}


@pytest.mark.parametrize("name", [
    "s02-step-30-percent-too-fast", "s05-clonazepam-cut-75-percent", "s17-older-adult-halved-lorazepam",
    "own-interval-5-days-after-reduction", "own-prn-max-dose", "s06-long-term-25-percent-summary",
    "s06-long-term-25-percent-joint-2025", "own-joint-window-two-steps", "own-name-matched-product",
])
def test_accepting_the_fix_clears_every_rate_card(name: str, scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario(name)
    hooks = scenario_hooks(expected)
    cards = hooks.cards(body)
    rate_cards = [c for c in cards if c["source"]["topic"]["code"] in
                  ("abrupt-discontinuation", "taper-too-fast", "long-term-rate", "older-adult")
                  and c["indicator"] != "info"]
    assert rate_cards
    # no two cards carry the same suggestion: the fix is on the first card that has one
    fix = next(c["suggestions"][0] for c in rate_cards if "suggestions" in c)
    resigned = {c["source"]["topic"]["code"] for c in hooks.cards(accept(body, fix)) if c["indicator"] != "info"}
    assert not resigned & {"abrupt-discontinuation", "taper-too-fast", "long-term-rate", "older-adult"}, resigned


def test_long_term_detail_states_coverage_and_window(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("s06-long-term-25-percent-summary")
    long_term = card(scenario_hooks(expected).cards(body), "long-term-rate")
    assert "25 % within 30 days for a patient on benzodiazepines for more than a year (limit 10 % per month)" \
        in long_term["detail"]
    assert "Covered on 365 of the last 365 days." in long_term["detail"]
    # 1 mg/day clonazepam × 0.9 = 0.9 mg: halves of 0.5 mg tablets and 0.125 mg orally disintegrating tablets give
    # 0.875 mg at best (−12.5 %); no clonazepam liquid is marketed in the US
    keep, switch = long_term["suggestions"]
    assert keep["label"] == "Keep the current dose for now (no clonazepam form gives a ≤ 10 % step)"
    assert switch["label"] == "Switch to diazepam: 10 mg/day with clonazepam for 7 days, then 20 mg/day"
    # what the labels leave out, the detail states
    assert ("- **Keep the current dose for now (no clonazepam form gives a ≤ 10 % step)** — the smallest amounts of "
            "clonazepam that can be given are half a scored 0.5 mg tablet (0.25 mg); one 0.125 mg orally "
            "disintegrating tablet (0.125 mg).") in long_term["detail"]
    assert ("- **Switch to diazepam: 10 mg/day with clonazepam for 7 days, then 20 mg/day** — over 1–2 weeks: "
            "diazepam 10 mg/day with clonazepam 0.5 mg/day for 7 days, then diazepam 20 mg/day alone (Ashton table; "
            "2025 Joint Guideline rec. 7).") in long_term["detail"]
    create, update = switch["actions"]
    # the diazepam product of the plan's first stage: the 1 mg/mL liquid the diazepam taper then uses throughout
    assert create["type"] == "create" and create["resource"]["medicationCodeableConcept"]["coding"][0]["code"] \
        == "309843"
    assert dosage_lines(create["resource"]) == [(5.0, "mL", 2, [])]  # 5 mL of 1 mg/mL twice daily
    assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "197527"
    assert dosage_lines(update["resource"]) == [(0.5, "{tablet}", 2, [])]  # ½ × 0.5 mg twice daily


def test_conversion_ambiguity_states_both_tables(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("s07-same-day-switch-alprazolam-to-diazepam")
    ambiguity = card(scenario_hooks(expected).cards(body), "conversion-ambiguity")
    assert "- Under the Ashton table this is a 50 % reduction: it breaches the abrupt-discontinuation threshold " \
        "(half or more at once); the 25 % step limit; 10 % per month after more than a year of use.\n" \
        "- Under the VA/DoD table this is no change of the total: it is within every limit." in ambiguity["detail"]
    assert ambiguity["summary"] == \
        "Same-day switch alprazolam → diazepam: equivalence tables disagree; cross-taper over 1–2 weeks"
    assert "Cross-taper over 1–2 weeks" in ambiguity["detail"]


def test_name_matched_order_says_so(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("own-name-matched-product")
    too_fast = card(scenario_hooks(expected).cards(body), "taper-too-fast")
    assert "**Order:** Valium 5 mg tablet (the order names the drug only in text) — " in too_fast["detail"]


def test_missing_birth_date_is_said_not_guessed(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("own-older-adult-missing-birthdate")
    too_fast = card(scenario_hooks(expected).cards(body), "taper-too-fast")
    assert "Age unknown: no birth date in the record." in too_fast["detail"]


def test_renal_card_computes_cockcroft_gault_and_suggests_the_label_schedule(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("own-gabapentin-renal-crcl-40-tid")
    hooks = scenario_hooks(expected)
    renal = card(hooks.cards(body), "gabapentinoid-renal-dose")
    # 70 kg × (140 − 70) / (72 × 1.215) = 56.0 mL/min → row 30–59: 400–1400 mg/day twice daily
    assert "CrCl 56 mL/min (Cockcroft–Gault: serum creatinine 1.215 mg/dL" in renal["detail"]
    assert "3 doses a day; the label gives it twice daily" in renal["detail"]
    [fix] = renal["suggestions"]
    dosage = fix["actions"][0]["resource"]["dosageInstruction"][0]
    assert dosage["timing"]["repeat"]["frequency"] == 2
    # a new start: the label's first column, 400 mg/day in this row = 2 × 100 mg capsules twice daily
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 2.0
    assert "gabapentinoid-renal-dose" not in {c["source"]["topic"]["code"] for c in hooks.cards(accept(body, fix))}


def test_missing_renal_data_asks_for_a_creatinine(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("own-gabapentin-renal-missing")
    renal = card(scenario_hooks(expected).cards(body), "gabapentinoid-renal-dose")
    assert "the newest result, eGFR 90 mL/min/1.73 m² on 2025-" in renal["detail"]
    assert "(stale: older than 180 days)" in renal["detail"]
    assert renal["suggestions"][0]["actions"][0]["resource"]["code"]["coding"][0]["code"] == "2160-0"


def test_referral_is_a_request_for_consultation_naming_the_trigger(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("s22-withdrawal-seizure-history")
    referral = card(scenario_hooks(expected).cards(body), "specialist-referral")
    request = referral["suggestions"][0]["actions"][0]["resource"]
    assert request["resourceType"] == "ServiceRequest" and request["status"] == "draft"
    assert request["intent"] == "proposal"
    assert "history of withdrawal seizures" in request["reasonCode"][0]["text"]
    assert "Please confirm you can accept" in request["note"][0]["text"]
    assert "724668002" in referral["detail"]


def test_accepting_the_switch_to_diazepam_clears_the_rate_card(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("s06-long-term-25-percent-summary")
    hooks = scenario_hooks(expected)
    switch = card(hooks.cards(body), "long-term-rate")["suggestions"][1]
    assert [action["type"] for action in switch["actions"]] == ["create", "update"]
    resigned = {c["source"]["topic"]["code"] for c in hooks.cards(accept(body, switch)) if c["indicator"] != "info"}
    # clonazepam 1 → 0.5 mg/day plus diazepam 10 mg/day: 20 mg diazepam-equivalent before and after (Ashton)
    assert not resigned & {"abrupt-discontinuation", "taper-too-fast", "long-term-rate", "conversion-ambiguity"}

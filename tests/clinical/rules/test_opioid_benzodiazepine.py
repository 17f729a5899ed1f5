"""Card ``opioid-benzodiazepine``: the text the prescriber reads, the one-click naloxone order, and what the
card never suggests (docs/clinical-reference.md §10)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.clinical.engine import MAX_CARDS, disciplined
from cds_service.clinical.findings import Finding, Indicator
from tests.conftest import HookCalls
from tests.utils.fhir import medication_request
from tests.utils.scenarios import expected as scenario_expected
from tests.utils.scenarios import request as scenario_request

CARD_TYPE = "opioid-benzodiazepine"
WHY_CDC = ("- Taking an opioid with a benzodiazepine raises the risk of fatal overdose: use particular caution with "
           "the combination (CDC 2022 opioid guideline rec. 11).")
REASSESS = ("- Reassess the benefits and risks of both at least every 3 months while they are prescribed together "
            "(2025 Joint Guideline rec. 16).")
OFFER = ("- Offer naloxone and teach the patient and household to use it (rec. 17): the suggested order is "
         "naloxone 4 mg nasal spray, two devices.")
DIAZEPAM_18 = ("- Benzodiazepine: diazepam, 18 mg diazepam-equivalent/day in total after this call's orders "
               "(Ashton table).")
TAPER_STEP = ("**Order:** diazepam 2 MG Oral Tablet — a benzodiazepine order for a patient "
              "who takes an opioid.")
NO_NALOXONE = "- Rescue naloxone: none ordered or dispensed in the last 12 months."


def scenario_cards(hooks: HookCalls, name: str) -> list[dict[str, Any]]:
    return hooks.cards(scenario_request(name), scenario_expected(name)["service"])


def opioid_card(hooks: HookCalls, name: str) -> dict[str, Any]:
    [card] = [c for c in scenario_cards(hooks, name) if c["source"]["topic"]["code"] == CARD_TYPE]
    return card


def detail_lines(card: dict[str, Any]) -> list[str]:
    # The last line names the rules' version; tests/utils/cards.py checks it on every card.
    return [line for line in card["detail"].split("\n") if line and not line.startswith("_Rules: ")]


def taper_step_detail(opioid: str, *after: str) -> list[str]:
    """The detail of the card on the diazepam 20 → 18 mg/day step, for one opioid, no naloxone on file."""
    return [TAPER_STEP, "**Why this card:**", opioid, DIAZEPAM_18, NO_NALOXONE, "**What to do:**", WHY_CDC, REASSESS,
            OFFER, *after]


def test_oxycodone_with_a_diazepam_taper_step_offers_naloxone(hooks: HookCalls) -> None:
    card = opioid_card(hooks, "own-opioid-oxycodone-taper-step")
    assert card["indicator"] == "warning"
    assert card["summary"] == ("Opioid with a benzodiazepine: oxycodone + diazepam — offer naloxone; reassess at "
                               "least every 3 months")
    assert detail_lines(card) == taper_step_detail(
        "- Opioid: oxycodone hydrochloride 5 MG Oral Tablet.")
    assert card["links"] == [{"label": "CDC 2022 opioid prescribing guideline (recommendation 11)",
                              "url": "https://www.cdc.gov/mmwr/volumes/71/rr/rr7103a1.htm", "type": "absolute"}]


def test_the_naloxone_order_is_a_valid_r4_draft_of_the_4_mg_nasal_spray(hooks: HookCalls) -> None:
    card = opioid_card(hooks, "own-opioid-oxycodone-taper-step")
    [suggestion] = card["suggestions"]
    assert suggestion["label"] == "Order naloxone 4 mg nasal spray" and suggestion["isRecommended"] is True
    [action] = suggestion["actions"]
    assert action["type"] == "create"
    order = MedicationRequest.model_validate(action["resource"])
    assert (order.status, order.intent, order.subject.reference, str(order.authoredOn)) == (
        "draft", "order", "Patient/p1", "2026-03-16")
    [coding] = order.medicationCodeableConcept.coding
    assert (coding.system, coding.code, coding.display) == (
        "http://www.nlm.nih.gov/research/umls/rxnorm", "1725059", "naloxone hydrochloride 40 MG/ML Nasal Spray")
    [dosage] = order.dosageInstruction
    assert dosage.text == ("For suspected opioid overdose: spray 4 mg (one device) into one nostril and call 911. If "
                           "there is no response, or breathing slows again, give another dose with a new device in "
                           "the other nostril every 2 to 3 minutes.")
    assert dosage.route.coding[0].code == "46713006"
    dose = dosage.doseAndRate[0].doseQuantity
    assert (dose.value, dose.code) == (4, "mg")
    assert order.dispenseRequest.quantity.value == 2


def test_buprenorphine_for_opioid_use_disorder_is_never_to_be_stopped_for_the_taper(hooks: HookCalls) -> None:
    cards = scenario_cards(hooks, "own-opioid-buprenorphine-oud-taper-step")
    [card] = [c for c in cards if c["source"]["topic"]["code"] == CARD_TYPE]
    assert card["summary"] == ("Buprenorphine for opioid use disorder with diazepam: do not stop or reduce it for a "
                               "taper; offer naloxone")
    assert detail_lines(card) == taper_step_detail(
        "- Opioid: buprenorphine 8 MG / naloxone 2 MG Sublingual Film — treatment of "
        "opioid use disorder.",
        "- Do not stop or reduce buprenorphine for opioid use disorder to taper the benzodiazepine: keep it "
        "unchanged while tapering (rec. 21).")
    # no card of the call suggests changing the buprenorphine order
    for any_card in cards:
        for suggestion in any_card.get("suggestions", []):
            for action in suggestion["actions"]:
                assert action.get("resourceId") != "MedicationRequest/bup-1"
                assert (action.get("resource") or {}).get("id") != "bup-1"
                assert "buprenorphine" not in json.dumps(action.get("resource", {})).lower()


def test_the_referral_card_and_this_card_do_not_repeat_each_other(hooks: HookCalls) -> None:
    cards = scenario_cards(hooks, "own-opioid-buprenorphine-oud-taper-step")
    by_type = {c["source"]["topic"]["code"]: c for c in cards}
    referral = set(detail_lines(by_type["specialist-referral"]))
    opioid = set(detail_lines(by_type[CARD_TYPE]))
    headings = {"**Why this card:**", TAPER_STEP.split(" — ")[0]}
    assert {line for line in referral & opioid if not line.startswith("**")} - headings == set()
    assert "opioid use disorder" not in by_type["specialist-referral"]["detail"].split("**Guidance:**")[1]
    assert "refer" not in by_type[CARD_TYPE]["detail"].lower()


def test_methadone_from_a_treatment_programme_is_treatment(hooks: HookCalls) -> None:
    card = opioid_card(hooks, "own-opioid-methadone-treatment-programme")
    assert card["summary"] == ("Methadone for opioid use disorder with diazepam: do not stop or reduce it for a "
                               "taper; offer naloxone")
    assert "- Opioid: methadone hydrochloride 10 MG/ML Oral Solution — treatment of opioid use disorder." in \
        detail_lines(card)
    assert detail_lines(card)[-1] == ("- Do not stop or reduce methadone for opioid use disorder to taper the "
                                      "benzodiazepine: keep it unchanged while tapering (rec. 21).")


def test_methadone_tablets_for_pain_are_an_opioid_analgesic(hooks: HookCalls) -> None:
    card = opioid_card(hooks, "own-opioid-methadone-for-pain")
    assert card["summary"] == ("Opioid with a benzodiazepine: methadone + diazepam — offer naloxone; reassess at "
                               "least every 3 months")
    assert "- Opioid: methadone hydrochloride 10 MG Oral Tablet." in detail_lines(card)
    assert "rec. 21" not in card["detail"]


def test_naloxone_dispensed_within_a_year_makes_an_info_card_without_an_order(hooks: HookCalls) -> None:
    card = opioid_card(hooks, "own-opioid-naloxone-dispensed")
    assert card["indicator"] == "info" and "suggestions" not in card
    assert card["summary"] == ("Opioid with a benzodiazepine: oxycodone + diazepam — naloxone on hand; reassess at "
                               "least every 3 months")
    lines = detail_lines(card)
    assert r"- Rescue naloxone: naloxone hydrochloride 40 MG/ML Nasal Spray \[Narcan\], dispensed on 2025-11-03." \
        in lines
    assert lines[-1] == "- Naloxone is on hand: check the patient still has it and knows how to use it (rec. 17)."


@pytest.mark.parametrize("name", ["own-opioid-naloxone-13-months-ago", "own-opioid-buprenorphine-naloxone-not-rescue"])
def test_old_naloxone_or_buprenorphine_naloxone_is_not_rescue_naloxone(hooks: HookCalls, name: str) -> None:
    card = opioid_card(hooks, name)
    assert card["indicator"] == "warning" and NO_NALOXONE in detail_lines(card)
    assert card["suggestions"][0]["actions"][0]["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == \
        "1725059"


def test_a_new_opioid_order_selected_for_a_patient_on_alprazolam(hooks: HookCalls) -> None:
    card = opioid_card(hooks, "own-opioid-new-order-select")
    assert card["summary"] == ("Opioid with a benzodiazepine: oxycodone + alprazolam — offer naloxone; reassess at "
                               "least every 3 months")
    assert detail_lines(card)[:5] == [
        "**Order:** acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet — "
        "an opioid order for a patient who takes a benzodiazepine or Z-drug.",
        "**Why this card:**",
        "- Opioid: acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet.",
        "- Benzodiazepine: alprazolam, 30 mg diazepam-equivalent/day in total after this call's orders "
        "(Ashton table).",
        NO_NALOXONE,
    ]


def test_tramadol_is_an_opioid(hooks: HookCalls) -> None:
    card = opioid_card(hooks, "own-opioid-tramadol")
    assert card["summary"] == ("Opioid with a benzodiazepine: tramadol + lorazepam — offer naloxone; reassess at "
                               "least every 3 months")
    assert detail_lines(card)[2:4] == [
        "- Opioid: tramadol hydrochloride 50 MG Oral Tablet.",
        "- Benzodiazepine: lorazepam, 25 mg diazepam-equivalent/day in total after this call's orders "
        "(Ashton table).",
    ]


def test_a_z_drug_counts_like_a_benzodiazepine(hooks: HookCalls) -> None:
    card = opioid_card(hooks, "own-opioid-z-drug")
    assert card["summary"] == ("Opioid with a Z-drug: oxycodone + zolpidem — offer naloxone; reassess at least every "
                               "3 months")
    assert "- Z-drug: zolpidem." in detail_lines(card)
    assert ("- Taking an opioid with a Z-drug raises the risk of fatal overdose: use particular caution with the "
            "combination (CDC 2022 opioid guideline rec. 11).") in detail_lines(card)


def test_names_from_the_record_are_plain_text_on_the_card(hooks: HookCalls) -> None:
    hostile = medication_request(("0", "x"), tablets=1, per_day=4, authored_on="2026-03-01", id="oxy-text")
    hostile["medicationCodeableConcept"] = {"text": "oxycodone <img src=x onerror=alert(1)> **5 mg**\n# now"}
    body = scenario_request("own-opioid-supply-ran-out")
    body["prefetch"]["medicationRequests"]["entry"].append({"resource": hostile})
    [card] = [c for c in hooks.cards(body) if c["source"]["topic"]["code"] == CARD_TYPE]
    assert ("- Opioid: oxycodone &lt;img src=x onerror=alert(1)&gt; \\*\\*5 mg\\*\\* # now "
            "(the order names the drug only in text).") in detail_lines(card)


def _finding(card_type: str, indicator: Indicator, order_id: str) -> Finding:
    return Finding(card_type=card_type, indicator=indicator, summary="s", detail="d", order_id=order_id,
                   source_url="https://example.org")


def test_the_card_budget_keeps_this_distinct_concern_when_more_than_five_qualify() -> None:
    findings = [
        _finding("abrupt-discontinuation", "critical", "o1"),
        _finding("taper-too-fast", "warning", "o1"),
        _finding("long-term-rate", "warning", "o1"),
        _finding("older-adult", "warning", "o1"),
        _finding("specialist-referral", "warning", "o1"),
        _finding("pregnancy-specialist", "warning", "o1"),
        _finding(CARD_TYPE, "warning", "o1"),
    ]
    kept = [f.card_type for f in disciplined(findings)]
    assert len(kept) == MAX_CARDS
    # the critical rate card, then every distinct concern (another rule family, the older-adult warning)
    assert kept == ["abrupt-discontinuation", "older-adult", "specialist-referral", "pregnancy-specialist",
                    CARD_TYPE]


def test_a_fill_of_an_ordered_opioid_is_the_same_therapy_not_a_second_opioid(hooks: HookCalls) -> None:
    body = scenario_request("own-opioid-oxycodone-taper-step")
    fill = {"resourceType": "MedicationDispense", "id": "oxy-fill", "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "1049621"}]},
            "quantity": {"value": 120}, "daysSupply": {"value": 30, "unit": "d"}, "whenHandedOver": "2026-02-21"}
    body["prefetch"]["medicationDispenses"]["entry"] = [{"resource": fill}]
    [card] = [c for c in hooks.cards(body) if c["source"]["topic"]["code"] == CARD_TYPE]
    assert [line for line in detail_lines(card) if line.startswith("- Opioid:")] == [
        "- Opioid: oxycodone hydrochloride 5 MG Oral Tablet."]

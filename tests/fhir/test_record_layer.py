"""The record the rules read (cds_service/clinical/resources.py): a valid resource is read on the fast path with
FHIR's values; one that breaks a constraint on what the rules read is refused there and read, repaired or skipped
by the complete FHIR model exactly as before, note for note; every fixture reads the same either way."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest

import cds_service.fhir.parse as parse
from cds_service.clinical.engine import evaluate_rules
from cds_service.clinical.resources import MedicationRequest, Observation, Patient
from cds_service.fhir.parse import ParseNotes, parse_lenient
from tests.clinical.test_read_once import scenario_facts
from tests.utils.fhir import DIAZEPAM_5_MG_TABLET, medication_request
from tests.utils.scenarios import NAMES as SCENARIOS

REFUSED_FIXTURE_RESOURCES = {("cardtext-dose-unreadable-hostile-period-unit", "d1")}
"""Fixture resources outside FHIR in what the rules read (a ``periodUnit`` outside its value set): read by the
complete model."""


def _order() -> dict[str, Any]:
    return medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=2, authored_on="2026-03-01", id="dzp-1")


def _read(resource: dict[str, Any], kind: type[Any] = MedicationRequest) -> tuple[Any, list[str]]:
    notes = ParseNotes()
    return parse_lenient(kind, resource, notes), notes.skipped


def _full_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data: Any, kind: Any) -> Any:
        raise msgspec.ValidationError("the fast path is off")

    monkeypatch.setattr(parse.msgspec, "convert", refuse)


def _dose(order: dict[str, Any]) -> dict[str, Any]:
    return order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]  # type: ignore[no-any-return]


def _repeat(order: dict[str, Any]) -> dict[str, Any]:
    return order["dosageInstruction"][0]["timing"]["repeat"]  # type: ignore[no-any-return]


def test_every_fixture_resource_is_read_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[tuple[str, str]] = []
    full: list[tuple[str, str]] = []
    scenario = ""
    plain_convert, plain_full = parse.msgspec.convert, parse.parse_fully

    def counted(data: Any, kind: Any) -> Any:
        read.append((scenario, data.get("id")))
        return plain_convert(data, kind)

    def noted(model: Any, data: dict[str, Any], notes: ParseNotes) -> Any:
        full.append((scenario, str(data.get("id"))))
        return plain_full(model, data, notes)

    monkeypatch.setattr(parse.msgspec, "convert", counted)
    monkeypatch.setattr(parse, "parse_fully", noted)
    for scenario in SCENARIOS:
        record = scenario_facts(scenario).evaluation.record
        assert record.observations is not None and record.opioid_history is not None  # read the lazy parts too

    assert len(read) > 900
    assert set(full) == REFUSED_FIXTURE_RESOURCES


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_fast_and_the_complete_model_give_the_same_findings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = scenario_facts(name)
    fast_findings = evaluate_rules(fast).findings
    with monkeypatch.context() as patched:
        _full_path_only(patched)
        full = scenario_facts(name)
        full_findings = evaluate_rules(full).findings
    assert [phase.courses for phase in fast.phases] == [phase.courses for phase in full.phases]
    assert fast_findings == full_findings
    assert fast.evaluation.record.incomplete == full.evaluation.record.incomplete


def test_a_valid_order_reads_with_fhir_values_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    order = _order()
    order["authoredOn"] = "2026-03-01T08:30:00+02:00"
    _dose(order)["value"] = 0.1
    _repeat(order).update(period=30.0, timeOfDay=["08:00:00", "20:00:00.5"], when=["MORN"])
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {"start": "2026-03", "end": "2026-03-31"}
    monkeypatch.setattr(parse, "parse_fully", None)  # the complete model is not asked

    model, notes = _read(order)

    assert notes == []
    assert model.authoredOn == datetime(2026, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=2)))
    [dosage] = model.dosageInstruction
    assert dosage.doseAndRate[0].doseQuantity.value == Decimal("0.1")
    repeat = dosage.timing.repeat
    assert (repeat.period, str(repeat.period)) == (Decimal(30), "30.0")  # the digits sent, as fhir.resources reads
    assert repeat.timeOfDay == (time(8), time(20, 0, 0, 500000))
    assert (repeat.boundsPeriod.start, repeat.boundsPeriod.end) == ("2026-03", date(2026, 3, 31))


def test_a_leap_second_and_a_partial_birth_date_stay_text_as_fhir_resources_keeps_them() -> None:
    order = {**_order(), "authoredOn": "2016-12-31T23:59:60Z"}
    model, _ = _read(order)
    patient, _ = _read({"resourceType": "Patient", "id": "p1", "birthDate": "1950", "gender": "male"}, Patient)
    assert (model.authoredOn, patient.birthDate, patient.gender) == ("2016-12-31T23:59:60Z", "1950", "male")


SKIPPED: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "an id with a space": (lambda r: r.update(id="dzp 1"), "string_pattern_mismatch at id"),
    "a code with a leading space": (lambda r: r["medicationCodeableConcept"]["coding"][0].update(code=" 197591"),
                                    "string_pattern_mismatch at medicationCodeableConcept.coding.0.code"),
    "a code with two spaces": (lambda r: r["medicationCodeableConcept"]["coding"][0].update(code="1975  91"),
                               "string_pattern_mismatch at medicationCodeableConcept.coding.0.code"),
    "an empty display": (lambda r: r["medicationCodeableConcept"]["coding"][0].update(display=""),
                         "string_pattern_mismatch at medicationCodeableConcept.coding.0.display"),
    "30 February": (lambda r: r.update(authoredOn="2026-02-30"), "datetime_from_date_parsing at authoredOn"),
    "a time without its offset": (lambda r: r.update(authoredOn="2026-03-01T10:00:00"), "value_error at authoredOn"),
    "month 13": (lambda r: r.update(authoredOn="2026-13"), "value_error at authoredOn"),
    "a dose of NaN": (lambda r: _dose(r).update(value="NaN"),
                      "value_error at dosageInstruction.0.doseAndRate.0.doseQuantity.value"),
    "a frequency of 0": (lambda r: _repeat(r).update(frequency=0),
                         "greater_than_equal at dosageInstruction.0.timing.repeat.frequency"),
    "no subject": (lambda r: r.pop("subject"), "missing at subject"),
    "two medications": (lambda r: r.update(medicationReference={"reference": "#m"}), "value_error at "),
    "as needed twice": (lambda r: r["dosageInstruction"][0].update(
        asNeededBoolean=True, asNeededCodeableConcept={"text": "panic"}), "value_error at dosageInstruction.0"),
}


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_a_resource_breaking_a_constraint_is_refused_and_skipped_with_the_complete_models_note(case: str) -> None:
    change, reason = SKIPPED[case]
    order = _order()
    change(order)
    sent = copy.deepcopy(order)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(order, MedicationRequest)

    model, notes = _read(order)

    assert model is None
    assert notes == [f"one MedicationRequest could not be read ({reason}) and was skipped"]
    assert order == sent


READ_BY_THE_COMPLETE_MODEL: dict[str, Callable[[dict[str, Any]], object]] = {
    "a status outside its value set": lambda r: r.update(status="actve"),
    "a period unit outside its value set": lambda r: _repeat(r).update(periodUnit="day"),
    "an id of 65 characters": lambda r: r.update(id="a" * 65),
    "a dose written as a string": lambda r: _dose(r).update(value="0.5"),
    "a frequency of true": lambda r: _repeat(r).update(frequency=True),
    "a category object": lambda r: r.update(category={"coding": [{"code": "outpatient"}]}),
}


@pytest.mark.parametrize("case", sorted(READ_BY_THE_COMPLETE_MODEL))
def test_a_resource_the_fast_path_refuses_and_fhir_resources_accepts_reads_as_it_did(
        case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    order = _order()
    READ_BY_THE_COMPLETE_MODEL[case](order)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(order, MedicationRequest)

    model, notes = _read(order)

    full = parse.parse_fully(parse._FULL_MODELS[MedicationRequest], order, ParseNotes())
    assert full is not None and notes == []
    assert (model.id, model.status, model.authoredOn) == (full.id, full.status, full.authoredOn)
    [dosage], [full_dosage] = model.dosageInstruction, full.dosageInstruction
    repeat, full_repeat = dosage.timing.repeat, full_dosage.timing.repeat
    assert (repeat.frequency, repeat.period, repeat.periodUnit) == \
        (full_repeat.frequency, full_repeat.period, full_repeat.periodUnit)
    assert dosage.doseAndRate[0].doseQuantity.value == full_dosage.doseAndRate[0].doseQuantity.value


def test_an_observation_with_two_values_is_skipped_as_the_complete_model_skips_it() -> None:
    observation = {"resourceType": "Observation", "id": "o1", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
                   "effectiveDateTime": "2026-03-01T08:00:00Z", "issued": "2026-03-01T09:00:00.123Z",
                   "valueQuantity": {"value": 1.2, "unit": "mg/dL"}}
    model, notes = _read(observation, Observation)
    assert (model.valueQuantity.value, model.issued) == (Decimal("1.2"), datetime(2026, 3, 1, 9, 0, 0, 123000, UTC))

    model, notes = _read({**observation, "valueString": "1.2 mg/dL"}, Observation)
    assert model is None and notes == ["one Observation could not be read (value_error at ) and was skipped"]

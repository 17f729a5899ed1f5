"""Reading what real clients send with R4 names (cds_service/fhir/parse.py)."""

from __future__ import annotations

import copy

from cds_service.fhir.parse import as_r4_medication_request
from tests.utils.fhir import baclofen_draft


def test_an_stu3_dose_moves_into_dose_and_rate_and_the_input_is_left_as_it_was() -> None:
    stu3 = baclofen_draft()
    dosage = stu3["dosageInstruction"][0]
    dosage["doseQuantity"] = dosage.pop("doseAndRate")[0]["doseQuantity"]
    dosage["asNeeded"] = False
    sent = copy.deepcopy(stu3)

    r4 = as_r4_medication_request(stu3)

    assert r4["dosageInstruction"][0]["doseAndRate"] == [{"doseQuantity": dosage["doseQuantity"]}]
    assert r4["dosageInstruction"][0]["asNeededBoolean"] is False
    assert "doseQuantity" not in r4["dosageInstruction"][0]
    assert stu3 == sent

"""Rule ``carbamazepine-safety`` on its own (``evaluate(facts)``): carbamazepine started during a taper — HLA-B*15:02
testing for patients of Asian ancestry without a result, baseline labs for everyone, a positive result a reason
not to start at all (docs/clinical-reference.md §11o, §7g, §7j)."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import carbamazepine_safety
from tests.utils.facts import facts_of

TAPER = [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 4, "authored": "2025-09-01", "id": "o1"},
         {"drug": "diazepam 5 MG Oral Tablet", "tablets": 3, "authored": "2026-03-02", "id": "o2", "prior": "o1"}]
CARBAMAZEPINE = {"drug": "carbamazepine 200 MG Oral Tablet", "tablets": 1, "per_day": 2}
CHINESE = {"code": "2034-7", "display": "Chinese"}


def hla(answer: str, display: str) -> dict[str, Any]:
    return {"loinc": "57979-7", "answer": answer, "answer_display": display, "date": "2025-01-10"}


def spec(*observations: dict[str, Any], race: dict[str, str] | None = None,
         history: list[dict[str, Any]] = TAPER) -> dict[str, Any]:
    return {"patient": {"age": 42, **({"race": race} if race else {})}, "history": history,
            "observations": list(observations), "drafts": [CARBAMAZEPINE]}


def test_asian_ancestry_without_a_result_is_a_warning_to_test_first() -> None:
    [finding] = carbamazepine_safety.evaluate(facts_of(spec(race=CHINESE)))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == "Carbamazepine: test HLA-B*15:02 before starting (Asian ancestry, no result on file)"
    assert ("- HLA-B*15:02: the record shows Asian ancestry (Chinese) and the service found no HLA-B*15:02 result — "
            "test before starting; do not start if positive (boxed warning: Stevens–Johnson syndrome / toxic "
            "epidermal necrolysis).") in finding.detail.splitlines()
    assert [s.label for s in finding.suggestions] == ["Order HLA-B*15:02 and baseline labs"]


def test_a_negative_result_needs_no_test_only_baseline_labs() -> None:
    [finding] = carbamazepine_safety.evaluate(facts_of(spec(hla("LA6577-6", "Negative"), race=CHINESE)))
    assert finding.indicator == "info"
    assert finding.summary == "Carbamazepine during a taper: baseline labs; it lowers some benzodiazepine levels"
    assert "- HLA-B*15:02 negative (LOINC 57979-7) on 2025-01-10: no HLA-B*15:02 test needed." \
        in finding.detail.splitlines()
    assert [s.label for s in finding.suggestions] == ["Order baseline labs"]


def test_a_positive_result_says_do_not_start_even_outside_a_taper() -> None:
    [finding] = carbamazepine_safety.evaluate(facts_of(spec(hla("LA6576-8", "Positive"), history=[])))
    assert (finding.indicator, finding.summary) == (
        "warning", "Do not start carbamazepine: HLA-B*15:02 positive (boxed warning: SJS/TEN)")
    assert "**Why this card:** HLA-B*15:02 positive (LOINC 57979-7) on 2025-01-10." in finding.detail.splitlines()
    [remove] = finding.suggestions
    assert remove.label == "Remove the carbamazepine order"
    assert [(a.type, a.resource_id) for a in remove.actions] == [("delete", "MedicationRequest/d1")]


def test_silent_outside_a_taper_without_a_positive_result() -> None:
    assert list(carbamazepine_safety.evaluate(facts_of(spec(history=[])))) == []

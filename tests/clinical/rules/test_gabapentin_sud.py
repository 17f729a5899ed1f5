"""Rule ``gabapentin-sud`` on its own (``evaluate(facts)``): gabapentin started for a patient with a sedative use
disorder in the record, active or in remission (docs/clinical-reference.md §11n, §7g, §7h), and its near misses."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import gabapentin_sud
from tests.utils.facts import facts_of

TAPER = [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 3, "authored": "2025-09-01", "id": "o1"}]
GABAPENTIN = {"drug": "gabapentin 300 MG Oral Capsule", "tablets": 1, "per_day": 3}
ACTIVE = {"code": "F13.20", "system": "icd10", "display": "Sedative dependence, uncomplicated"}
IN_REMISSION = {"code": "F13.21", "system": "icd10", "display": "Sedative dependence, in remission"}


def spec(*conditions: dict[str, Any], history: tuple[dict[str, Any], ...] = (),
         draft: dict[str, Any] = GABAPENTIN) -> dict[str, Any]:
    return {"patient": {"age": 52}, "conditions": list(conditions), "history": [*TAPER, *history], "drafts": [draft]}


def test_gabapentin_with_an_active_sedative_use_disorder_names_it() -> None:
    [finding] = gabapentin_sud.evaluate(facts_of(spec(ACTIVE)))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == ("Gabapentin with a sedative use disorder: misuse risk; prefer pausing or slowing "
                               "the taper")
    lines = finding.detail.splitlines()
    assert lines[0] == ("**Order:** gabapentin 300 MG Oral Capsule — gabapentin for a patient with a sedative use "
                        "disorder.")
    assert "**Why this card:** the record shows Sedative dependence, uncomplicated (F13.20)." in lines


def test_a_disorder_in_remission_is_history_too() -> None:
    [finding] = gabapentin_sud.evaluate(facts_of(spec(IN_REMISSION)))
    assert "**Why this card:** the record shows Sedative dependence, in remission (F13.21)." \
        in finding.detail.splitlines()


def test_silent_when_the_patient_already_takes_gabapentin() -> None:
    """Ordered on 2026-02-01, within the 90 days before: a renewal continues it (docs/clinical-reference.md §7g)."""
    taking = {**GABAPENTIN, "authored": "2026-02-01", "id": "g1"}
    assert list(gabapentin_sud.evaluate(facts_of(spec(ACTIVE, history=(taking,),
                                                      draft={**GABAPENTIN, "prior": "g1"})))) == []


def test_silent_without_a_sedative_use_disorder() -> None:
    assert list(gabapentin_sud.evaluate(facts_of(spec()))) == []

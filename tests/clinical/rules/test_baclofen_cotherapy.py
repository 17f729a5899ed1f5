"""Rule ``baclofen-cotherapy`` on its own (``evaluate(facts)``): baclofen taken since before the taper, beside a
benzodiazepine step — keep it steady, change one drug at a time, never stop it abruptly (docs/clinical-reference.md
§11p) — and the records it stays silent on."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import baclofen_cotherapy
from tests.utils.facts import facts_of

DIAZEPAM_5, DIAZEPAM_2 = "diazepam 5 MG Oral Tablet", "diazepam 2 MG Oral Tablet"
# a taper that began on 2026-03-02 (20 → 15 mg/day), its next step drafted on 2026-03-16 (15 → 12 mg/day)
TAPER = [{"drug": DIAZEPAM_5, "tablets": 4, "authored": "2025-09-01", "id": "o1"},
         {"drug": DIAZEPAM_5, "tablets": 3, "authored": "2026-03-02", "id": "o2", "prior": "o1"}]
NEXT_STEP = {"drug": DIAZEPAM_2, "tablets": 6, "prior": "o2"}
BACLOFEN = {"drug": "baclofen 10 MG Oral Tablet", "tablets": 1, "per_day": 3, "authored": "2023-05-01", "id": "b1"}


def spec(baclofen: dict[str, Any], age: int = 52, drafts: tuple[dict[str, Any], ...] = (NEXT_STEP,)) -> dict[str, Any]:
    return {"patient": {"age": age}, "history": [*TAPER, baclofen], "drafts": list(drafts)}


def test_baclofen_since_2023_beside_a_taper_step_is_kept_steady() -> None:
    [finding] = baclofen_cotherapy.evaluate(facts_of(spec(BACLOFEN)))
    assert (finding.indicator, finding.order_id) == ("info", "d1")
    assert finding.summary == "On baclofen since before the taper: keep it steady; change one drug at a time"
    lines = finding.detail.splitlines()
    assert lines[0] == ("**Order:** diazepam 2 MG Oral Tablet — benzodiazepine taper step while the patient takes "
                        "baclofen (baclofen 10 MG Oral Tablet) since before the taper.")
    assert "- Never stop baclofen abruptly; reduce it slowly if it must be reduced." in lines
    assert not any("eGFR" in line for line in lines), "the kidney check is for patients 65 and older"
    assert finding.suggestions == (), "never suggests stopping baclofen"


def test_at_70_the_card_asks_for_the_egfr() -> None:
    [finding] = baclofen_cotherapy.evaluate(facts_of(spec(BACLOFEN, age=70)))
    assert "- Age ≥ 65: check eGFR — Beers 2023 advises avoiding baclofen when eGFR < 60." \
        in finding.detail.splitlines()


def test_silent_for_baclofen_started_after_the_taper_began() -> None:
    assert list(baclofen_cotherapy.evaluate(facts_of(spec({**BACLOFEN, "authored": "2026-03-10"})))) == []


def test_silent_without_a_benzodiazepine_step() -> None:
    assert list(baclofen_cotherapy.evaluate(facts_of(spec(BACLOFEN, drafts=())))) == []

"""One source per threshold and code: the thresholds live in ``profiles.json`` and the answer codes in
``terminology/loinc.json``, each with its source, and what the cards say follows them — a threshold changed in a
copy of the data changes the card's numbers and words, with no code edited."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest

from cds_service.clinical import profiles
from cds_service.clinical.equivalence import TABLE_NAMES, TABLES
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding
from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.rules import RULE_BY_TYPE
from cds_service.clinical.terminology import Terminology
from cds_service.clinical.terminology.loader import _DATA as TERMINOLOGY_DATA
from cds_service.config import Settings
from cds_service.evaluate import clinical_facts
from cds_service.fhir.prefetch import resolve_prefetch
from cds_service.schemas.hook_request import load_hook_request
from cds_service.services import SERVICES, prefetch_templates

FIXTURES = Path(__file__).resolve().parents[2] / "fhir_fixtures"


@cache
def _scenario(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = next(p.parent for p in FIXTURES.rglob("expected.json") if p.parent.name == name)
    return json.loads((folder / "request.json").read_text()), json.loads((folder / "expected.json").read_text())


def facts(name: str) -> ClinicalFacts:
    request_json, expected = _scenario(name)
    service = SERVICES[expected["service"]]
    request = load_hook_request(request_json, service.hook)
    raw = resolve_prefetch(prefetch_templates(), request.get("prefetch") or {}, request["context"], None)
    return clinical_facts(service, request, raw, Settings(auth="off").with_overrides(expected.get("settings", {})))


def card(card_type: str, scenario: str) -> Finding | None:
    return next(iter(RULE_BY_TYPE[card_type].evaluate(facts(scenario))), None)


@pytest.fixture
def changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[dict[str, Any]], None]],
                                                                                    None]]:
    """Change the thresholds in a copy of ``profiles.json`` and read the copy from then on."""
    def change(edit: Callable[[dict[str, Any]], None]) -> None:
        data = json.loads(profiles.PROFILES_FILE.read_text(encoding="utf-8"))
        edit(data)
        copy = tmp_path / "profiles.json"
        copy.write_text(json.dumps(data), encoding="utf-8")
        monkeypatch.setattr(profiles, "PROFILES_FILE", copy)
        profiles.clear_cache()
    yield change
    monkeypatch.undo()
    profiles.clear_cache()


def test_the_advised_pace_on_the_cards_follows_the_profile_thresholds(changed: Callable[..., None]) -> None:
    abrupt = card("abrupt-discontinuation", "s04-lorazepam-stopped-abruptly")
    long_term = card("long-term-rate", "s06-long-term-25-percent-summary")
    assert abrupt is not None and long_term is not None
    assert ("reduce by 10–25 % of the *current* dose every 1–2 weeks (10 % per month after more than a year of use)"
            in abrupt.detail)
    assert long_term.summary.endswith("taper by at most 10 % per month")
    assert "extend the taper to 10 % per month (the taper summary guidance)" in long_term.detail
    assert "an initial pace of 5–10 % every 2–4 weeks" in long_term.detail

    def slower(data: dict[str, Any]) -> None:
        summary, joint = data["profiles"]["summary"], data["profiles"]["joint-2025"]
        summary.update(max_step_percent="20", long_term_max_percent="8", advised_step_percent_from="5",
                       advised_interval_days_to=21)
        joint.update(advised_step_percent_from="2.5", max_initial_step_percent="7.5", advised_interval_days_to=42)
    changed(slower)

    abrupt = card("abrupt-discontinuation", "s04-lorazepam-stopped-abruptly")
    long_term = card("long-term-rate", "s06-long-term-25-percent-summary")
    assert abrupt is not None and long_term is not None
    assert ("reduce by 5–20 % of the *current* dose every 1–3 weeks (8 % per month after more than a year of use)"
            in abrupt.detail)
    assert long_term.summary.endswith("taper by at most 8 % per month")
    assert "extend the taper to 8 % per month (the taper summary guidance)" in long_term.detail
    assert "an initial pace of 2.5–7.5 % every 2–6 weeks" in long_term.detail


def test_the_abrupt_threshold_is_read_from_the_data(changed: Callable[..., None]) -> None:
    cut = card("abrupt-discontinuation", "s05-clonazepam-cut-75-percent")
    assert cut is not None and cut.summary.startswith("Clonazepam cut by 75 % at once")

    def only_larger_cuts(data: dict[str, Any]) -> None:
        data["every_profile"]["abrupt_reduction_percent"] = "80"
    changed(only_larger_cuts)
    assert card("abrupt-discontinuation", "s05-clonazepam-cut-75-percent") is None


def test_every_threshold_names_its_source() -> None:
    data = json.loads(profiles.PROFILES_FILE.read_text(encoding="utf-8"))
    shared = data["every_profile"]
    sources = [key.removesuffix("_source") for key in shared if key.endswith("_source") and shared[key]]
    for key in shared:
        if not key.endswith("_source") and not key.startswith("_"):
            assert any(key.startswith(f"{source}_") for source in sources), f"{key} names no source"
    for spec in data["profiles"].values():
        assert spec["source"] and spec["published"]


def test_the_equivalence_tables_are_the_ones_the_data_lists() -> None:
    data = json.loads((TERMINOLOGY_DATA / "equivalence.json").read_text(encoding="utf-8"))["tables"]
    assert TABLES == tuple(data) == get_args(EquivalenceTable)
    assert TABLE_NAMES == {"ashton": "Ashton", "va-dod": "VA/DoD"} == {t: data[t]["name"] for t in TABLES}


def test_answer_codes_are_read_from_loinc_json_the_same_way_for_every_result(tmp_path: Path) -> None:
    terminology = Terminology()
    for concept in ("hla-b-1502", "pregnancy-test"):  # one answer set: a LOINC Positive means the same for both
        assert terminology.observation_answer(concept, "LA6576-8") == "positive"
        assert terminology.observation_answer(concept, "260385009") == "negative"
    assert terminology.observation_answer("pregnancy-status", "77386006") == "pregnant"
    assert terminology.observation_answer("pregnancy-status", "LA6576-8") is None

    copy = tmp_path / "terminology"
    shutil.copytree(TERMINOLOGY_DATA, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    loinc = json.loads((copy / "loinc.json").read_text(encoding="utf-8"))
    loinc["answer_sets"]["presence"]["positive"].append("LOCAL-POS")
    (copy / "loinc.json").write_text(json.dumps(loinc), encoding="utf-8")
    assert Terminology(copy).observation_answer("pregnancy-test", "LOCAL-POS") == "positive"
    assert terminology.observation_answer("pregnancy-test", "LOCAL-POS") is None

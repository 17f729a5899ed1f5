"""The scenario folders are grouped and indexed: each sits in a group of ``fhir_fixtures/README.md`` under a name
no other scenario has, and the index lists it — a contributor finds a card's cases and its near misses in one
folder, and a scenario filed nowhere (or twice) is caught before it lands."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.utils.cards import CARD_TYPES
from tests.utils.scenario_builder import write_scenario, write_stu3_twin
from tests.utils.scenarios import CARD_GROUPS, FIXTURES, GROUPS, INDEX, SCENARIOS, index, scenario_folders


def test_every_scenario_folder_is_in_a_group() -> None:
    misplaced = [str(folder.relative_to(FIXTURES)) for folder in SCENARIOS
                 if folder.parent.parent != FIXTURES or folder.parent.name not in GROUPS]
    assert not misplaced, (f"not in a group of fhir_fixtures/README.md: {misplaced} — `git mv` each into one "
                           "(or add a group to GROUPS in tests/utils/scenarios.py), then "
                           "`.venv/bin/python -m tests.utils.scenarios`")


def test_there_is_nothing_else_at_the_top_of_the_fixtures() -> None:
    assert sorted(path.name for path in FIXTURES.iterdir()) == sorted([*GROUPS, "README.md"])
    assert all(any((FIXTURES / group).iterdir()) for group in GROUPS)


def test_scenario_names_are_unique_over_all_groups() -> None:
    """Tests, demo patients and snapshots name a scenario by its folder alone."""
    twice = [name for name, count in Counter(folder.name for folder in SCENARIOS).items() if count > 1]
    assert not twice


def test_the_index_is_current() -> None:
    assert INDEX.read_text(encoding="utf-8") == index(), "run `.venv/bin/python -m tests.utils.scenarios`"


@pytest.mark.parametrize("group", sorted(set(GROUPS) & CARD_TYPES | set(CARD_GROUPS)))
def test_a_card_group_holds_its_cards_and_near_misses(group: str) -> None:
    """A group named after a card type holds scenarios that show that card or say it must be absent."""
    card_types = CARD_GROUPS.get(group, frozenset({group}))
    for folder in scenario_folders(FIXTURES / group):
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        named = {card["type"] for card in expected["cards"]} | set(expected["absent"])
        assert named & card_types, f"{folder.name} neither shows nor excludes {sorted(card_types)}"


SPEC = {"name": "example-step", "description": "Diazepam 20 → 15 mg/day (25 %) after 14 days.", "at": "2026-03-16",
        "patient": {"age": 52, "sex": "female"},
        "history": [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 4, "authored": "2025-09-01", "id": "o1"}],
        "drafts": [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 3, "prior": "o1"}],
        "expected": {"cards": [{"type": "taper-support", "indicator": "info"}]}}


def test_the_builder_files_a_new_scenario_in_its_group_and_indexes_it(tmp_path: Path) -> None:
    folder = write_scenario({**SPEC, "group": "taper-support"}, tmp_path)
    assert folder == tmp_path / "taper-support" / "example-step"
    assert "| `example-step` | Diazepam 20 → 15 mg/day (25 %) after 14 days. |" in (tmp_path / "README.md").read_text()
    twin = write_stu3_twin("example-step", tmp_path)
    assert twin == tmp_path / "stu3" / "stu3-example-step"
    assert "| `stu3-example-step` | STU3 twin of example-step" in (tmp_path / "README.md").read_text()


def test_the_builder_rewrites_a_scenario_where_it_is(tmp_path: Path) -> None:
    write_scenario({**SPEC, "group": "record"}, tmp_path)
    again = write_scenario({**SPEC, "description": "Rewritten."}, tmp_path)
    assert again == tmp_path / "record" / "example-step"
    assert json.loads((again / "expected.json").read_text())["description"] == "Rewritten."
    with pytest.raises(ValueError, match="already in group 'record'"):
        write_scenario({**SPEC, "group": "taper-pace"}, tmp_path)


def test_the_builder_wants_the_group_of_a_new_scenario(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name its group"):
        write_scenario(SPEC, tmp_path)
    assert not list(tmp_path.iterdir())

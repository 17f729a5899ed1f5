"""The README card catalog, docs/clinical-reference.md §6c and the cards themselves agree: the same card types,
each card's ``source.url`` named in the catalog, and the profiles' thresholds as the README states them."""

from __future__ import annotations

import importlib
import json
import re
from fractions import Fraction
from pathlib import Path

from cds_service.clinical.cards import CARD_TYPES
from cds_service.clinical.rules import RULES
from cds_service.clinical.wording import percent

ROOT = Path(__file__).resolve().parents[1]


def _rows(text: str, start: str, end: str) -> dict[str, str]:
    section = text[text.index(start):text.index(end)]
    return {m.group(1): line for line in section.splitlines() if (m := re.match(r"\| `([a-z-]+)` \|", line))}


README = _rows((ROOT / "README.md").read_text(encoding="utf-8"), "## Cards", "## Configuration")
CATALOG = _rows((ROOT / "docs" / "clinical-reference.md").read_text(encoding="utf-8"), "### 6c.", "### 6d.")
PROFILES = json.loads((ROOT / "cds_service" / "clinical" / "profiles.json").read_text(encoding="utf-8"))["profiles"]


def test_readme_catalog_and_reference_list_every_card_type_the_service_answers() -> None:
    assert set(README) == set(CATALOG) == set(CARD_TYPES) == {rule.card_type for rule in RULES}


def test_each_cards_source_is_named_in_the_catalog() -> None:
    for rule in RULES:
        module = importlib.import_module(rule.evaluate.__module__)
        urls = set(getattr(module, "LABEL_URLS", {}).values()) or {module.SOURCE_URL}
        for url in urls:
            assert f"({url})" in CATALOG[rule.card_type], (rule.card_type, url)


def _pct(value: str) -> str:
    return percent(Fraction(value))


def test_the_readme_states_the_profiles_thresholds() -> None:
    summary, joint = PROFILES["summary"], PROFILES["joint-2025"]
    assert (f"`summary`: step > {_pct(summary['max_step_percent'])} or < {summary['min_interval_days']} days"
            in README["taper-too-fast"])
    assert (f"`joint-2025`: > {_pct(joint['max_window_percent'])} in {joint['window_days']} days, a first step > "
            f"{_pct(joint['max_initial_step_percent'])} or < {joint['min_interval_days']} days"
            in README["taper-too-fast"])
    for profile in (summary, joint):
        assert (f"> {_pct(profile['long_term_max_percent'])} within {profile['long_term_window_days']} days"
                in README["long-term-rate"])
        assert (f"the step is > {_pct(profile['older_adult_max_step_percent'])} or < "
                f"{profile['older_adult_min_interval_days']} days" in README["older-adult"])

"""The scenario corpus of ``fhir_fixtures/``: where each scenario folder is, what it holds, and the index.

Scenarios are grouped one level deep, ``fhir_fixtures/<group>/<scenario>/``, by the card type or the concern
they exercise (as the CDC opioid CDS libraries group their tests per recommendation). A scenario is named by
its folder alone — names are unique over all groups — so tests, the demo patients and ``scripts/snapshot.py``
refer to ``s02-step-30-percent-too-fast``, not to its group. ``fhir_fixtures/README.md`` is the index, written
from :data:`GROUPS` and each scenario's ``description``: ``python -m tests.utils.scenarios`` rewrites it
(``write_scenario`` does so too), and ``tests/scenarios/test_index.py`` checks that it is current.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from cds_service.clinical.facts import ClinicalFacts

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fhir_fixtures"
INDEX = FIXTURES / "README.md"

# Each group and what its scenarios show. A group named after a card type holds that card's scenarios: each
# shows the card or says it must be absent (its near misses); ``CARD_GROUPS`` lists the card types of the
# groups that hold more than one.
GROUPS: dict[str, str] = {
    "taper-pace": "The rate cards of a benzodiazepine step: `taper-too-fast` (step size or interval beyond the "
                  "profile), `abrupt-discontinuation` (a stop or a cut of half or more) and `long-term-rate` "
                  "(a step beyond the long-term rate), multi-phase orders, profiles and equivalence tables.",
    "taper-support": "Routine steps within pace, increases and final steps: the `taper-support` card and the "
                     "silence of the rate cards.",
    "as-needed": "As-needed (PRN) benzodiazepines: how often they are taken, stopping them, reductions that stay "
                 "as needed, the maximum dose.",
    "dose-reading": "How a dose is read — timing, units, sig text, the dispense request, products matched by name, "
                    "missing equivalence factors, routes not counted — and the `dose-unreadable` card.",
    "record": "Which orders make the history: dispenses, medication statements, renewals and pauses, replaced "
              "orders, two prescribers, unrelated orders.",
    "switches": "Switches between benzodiazepines and cross-tapers: `conversion-ambiguity` and its near misses, "
                "both tables, total doses.",
    "supply": "What a suggested order dispenses: quantity, days of supply and refills following the dose.",
    "card-budget": "Calls with many concerns: which cards are kept within the per-call budget and in what order.",
    "benzodiazepine-duplication": "Card `benzodiazepine-duplication`: a second benzodiazepine or a second "
                                  "prescriber, and its near misses.",
    "older-adult": "Card `older-adult`: patients 65 and older, gentler steps, a missing birth date.",
    "pregnancy-specialist": "Card `pregnancy-specialist`: pregnancy from conditions and tests, pregnancies over.",
    "specialist-referral": "Card `specialist-referral`: seizure history, unstable psychiatric illness, failed "
                           "tapers, substance use disorders, neurology, and the near misses.",
    "baclofen": "Cards `baclofen-adjunct` and `baclofen-cotherapy`: baclofen started during a taper or taken "
                "beside it, spasticity, intrathecal baclofen.",
    "gabapentinoid": "Cards `gabapentinoid-renal-dose` and `gabapentin-sud`: renal dose limits from CrCl, eGFR and "
                     "creatinine, and gabapentin with a substance use disorder.",
    "carbamazepine-safety": "Card `carbamazepine-safety`: carbamazepine and oxcarbazepine, HLA-B*15:02 results "
                            "and ancestry.",
    "opioid-benzodiazepine": "Card `opioid-benzodiazepine`: opioids beside a benzodiazepine or Z-drug, naloxone, "
                             "opioid use disorder treatment.",
    "z-drug-during-taper": "Card `z-drug-during-taper`: a new Z-drug during a taper, and Z-drugs already taken.",
    "stu3": "The legacy `medication-prescribe` hook with STU3 (and DSTU2) resources: most are the twin of an "
            "order-sign scenario of another group, expecting the same cards.",
}
CARD_GROUPS: dict[str, frozenset[str]] = {
    "baclofen": frozenset({"baclofen-adjunct", "baclofen-cotherapy"}),
    "gabapentinoid": frozenset({"gabapentinoid-renal-dose", "gabapentin-sud"}),
}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def scenario_folders(fixtures: Path = FIXTURES) -> list[Path]:
    """Every scenario folder (one holding ``expected.json``), at any depth, sorted by scenario name."""
    return sorted((path.parent for path in fixtures.rglob("expected.json")), key=lambda folder: folder.name)


SCENARIOS: list[Path] = scenario_folders()
NAMES: list[str] = [folder.name for folder in SCENARIOS]


@cache
def _by_name() -> dict[str, Path]:
    return {folder.name: folder for folder in scenario_folders()}


def folder(name: str) -> Path:
    """The folder of the scenario ``name``, whichever group holds it."""
    try:
        return _by_name()[name]
    except KeyError:
        raise KeyError(f"no scenario {name!r} under {FIXTURES}") from None


def request(name: str) -> dict[str, Any]:
    """The scenario's whole hook request (a fresh copy: callers may change it)."""
    body: dict[str, Any] = _load(folder(name) / "request.json")
    return body


def expected(name: str) -> dict[str, Any]:
    """The scenario's ``expected.json`` (a fresh copy)."""
    body: dict[str, Any] = _load(folder(name) / "expected.json")
    return body


def scenario_facts(name: str, clock: Callable[[], datetime] | None = None) -> ClinicalFacts:
    """The ``ClinicalFacts`` the rules read for scenario ``name``: its request through the service's own request
    loading, prefetch resolution and settings (``expected.json``'s ``settings`` over ``auth=off``) — no HTTP,
    no snooze, no card budget. ``clock`` fixes "now" (default: the service's clock)."""
    from tests.utils.facts import facts_from_request

    want = expected(name)
    return facts_from_request(request(name), want["service"], want.get("settings", {}), clock)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def index(fixtures: Path = FIXTURES) -> str:
    """``fhir_fixtures/README.md``: the groups, what each holds, and every scenario with its description."""
    lines = [
        "# Clinical scenarios",
        "",
        "Each scenario is a folder `<group>/<name>/` holding `request.json` (a whole hook request with its "
        "prefetch) and `expected.json` (its description and the cards expected; see "
        "`tests/scenarios/test_scenarios.py`). Every test finds scenarios at any depth and names them by their "
        "folder alone, so names are unique over all groups. Add one with `tests/utils/scenario_builder.py` "
        "(CONTRIBUTING, How to add a scenario), naming its `group`.",
        "",
        "Names keep the prefixes of the flat layout they come from: `sNN-` (and `s16b-`) is core case #NN of "
        "docs/clinical-reference.md §6d; `stu3-` the legacy-hook twin of the scenario named after it; `own-` the "
        "project's own cases for the §6b definitions; `words-` and `cardtext-` cases added when the cards' wording "
        "and numbers were reviewed (`words-<topic>-`: `cond` conditions, `new` new versus continuing, `numbers`, "
        "`renal`, `wording`, `budget`, `hla`, `neuro`, `cotherapy`). Unprefixed names say what they show; a new "
        "scenario needs no prefix, its group says what it is about.",
        "",
        "This index is generated: `python -m tests.utils.scenarios` rewrites it from the groups in "
        "`tests/utils/scenarios.py` and each scenario's `description` (`tests/scenarios/test_index.py` checks it).",
        "",
        "| Group | Scenarios | What it holds |",
        "|---|---|---|",
    ]
    folders = scenario_folders(fixtures)
    members = {group: [f for f in folders if f.parent == fixtures / group] for group in GROUPS}
    lines += [f"| [`{group}/`](#{group}) | {len(members[group])} | {about} |" for group, about in GROUPS.items()]
    for group, about in GROUPS.items():
        lines += ["", f"## {group}", "", about, "", "| Scenario | Description |", "|---|---|"]
        lines += [f"| `{f.name}` | {_cell(_load(f / 'expected.json')['description'])} |" for f in members[group]]
    return "\n".join(lines) + "\n"


def write_index(fixtures: Path = FIXTURES) -> Path:
    """Rewrites ``fixtures/README.md`` from the scenarios there."""
    path = fixtures / "README.md"
    path.write_text(index(fixtures), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_index(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES))

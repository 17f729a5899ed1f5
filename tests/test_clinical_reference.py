"""docs/clinical-reference.md stays true to the repository that cites it and to the code it describes.

- Every citation of it — ``docs/clinical-reference.md §8d``, ``§6b "Final step"``, ``§6d #12``, and the bare ``§7b``
  of fixture descriptions and of files that cite it — names a section, a numbered item, a defined term or a core
  scenario that exists: renumbering the document cannot leave a citation pointing at nothing.
- Every row of §6g "Where the numbers are kept" names a constant or a data-file key that holds that number.
- Every scenario the document names is a folder of ``fhir_fixtures/``.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import subprocess
from fractions import Fraction
from pathlib import Path

from cds_service.clinical.cards import CARD_TYPES

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "clinical-reference.md"
TEXT = DOC.read_text(encoding="utf-8")

_TOKEN = r"§\d+[a-z]?(?:\.\d+)?"
_TERM = r"""(?:"[A-Za-z][^"\n]*"|'[A-Za-z][^'\n]*')"""
_QUALIFIER = rf"(?:\s*(?:#\d+|{_TERM}(?:,\s*{_TERM})*))?"
"""``#12`` (a core scenario of §6d) or ``"Final step"`` (a term of §6b) after a section."""
_CHAIN = rf"{_TOKEN}{_QUALIFIER}(?:\s*(?:,|–|and|/)\s*(?:{_TOKEN}|\d{{1,2}}[a-z]?\b){_QUALIFIER})*"
NAMED = re.compile(rf"(clinical-reference|service-contract|integrating)(?:\.md)?`?\s+({_CHAIN})")
BARE = re.compile(_CHAIN)
NOT_OURS = re.compile(r"(?:USPI|label|RFC \d+|Hooks(?: 2\.0)?|contract|Table \d+)\s*$")
"""A bare ``§`` right after these cites another text (a drug label, an RFC, CDS Hooks, the service contract)."""


def _sections(text: str) -> dict[str, str]:
    """Section id (``6``, ``6b``) → its text, from the ``## N.`` and ``### Na.`` headings."""
    found: dict[str, str] = {}
    heads = list(re.finditer(r"^(#{2,3}) (\d+[a-z]?)\. .*$", text, re.MULTILINE))
    for index, head in enumerate(heads):
        level = len(head.group(1))
        end = next((h.start() for h in heads[index + 1:] if len(h.group(1)) <= level), len(text))
        found[head.group(2)] = text[head.end():end]
    return found


SECTIONS = _sections(TEXT)
TERMS = {match.group(1) for match in re.finditer(r"^\| ([^|]+?) \|", SECTIONS["6b"], re.MULTILINE)} - {"Term", "---"}
CORE_SCENARIOS = set(re.findall(r"^\| (\d+) \|", SECTIONS["6d"], re.MULTILINE))


def _problems(token_chain: str) -> list[str]:
    """What in one citation chain of the clinical reference does not exist."""
    problems = []
    for token, extra in re.findall(rf"(§?\d+[a-z]?(?:\.\d+)?)({_QUALIFIER})", token_chain):
        section, _, item = token.lstrip("§").partition(".")
        if section not in SECTIONS:
            problems.append(f"no §{section}")
        elif item and not re.search(rf"^\s*{item}\. ", SECTIONS[section], re.MULTILINE):
            problems.append(f"§{section} has no item {item}")
        for number in re.findall(r"#(\d+)", extra):
            if section != "6d" or number not in CORE_SCENARIOS:
                problems.append(f"§{section} has no scenario #{number}")
        for term in re.findall(r"""["']([^"'\n]+)["']""", extra):
            if section != "6b" or term not in TERMS:
                problems.append(f"§{section} defines no term \"{term}\"")
    return problems


def _tracked_text_files() -> dict[str, str]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    texts = {}
    for name in names.decode().split("\0"):
        path = ROOT / name
        if not name or name == "tests/test_clinical_reference.py" or not path.is_file():
            continue
        try:
            # JSON may write § as an escape
            texts[name] = path.read_text(encoding="utf-8").replace("\\u00a7", "§")
        except UnicodeDecodeError:  # images
            continue
    return texts


def _citations(name: str, text: str) -> list[tuple[int, str]]:
    """The clinical-reference citation chains of one file, with their line numbers."""
    found = []
    taken: list[tuple[int, int]] = []
    for match in NAMED.finditer(text):
        taken.append(match.span())
        if match.group(1) == "clinical-reference":
            found.append((text.count("\n", 0, match.start()) + 1, match.group(2)))
    bare_allowed = name.startswith("fhir_fixtures/") or name == "docs/clinical-reference.md" \
        or "clinical-reference" in text
    if bare_allowed:
        for match in BARE.finditer(text):
            if any(start <= match.start() < end for start, end in taken):
                continue
            if NOT_OURS.search(text[max(0, match.start() - 25):match.start()]):
                continue
            found.append((text.count("\n", 0, match.start()) + 1, match.group(0)))
    return found


def test_every_citation_of_the_clinical_reference_exists() -> None:
    missing = [f"{name}:{line}: {chain!r}: {problem}"
               for name, text in _tracked_text_files().items()
               for line, chain in _citations(name, text) for problem in _problems(chain)]
    assert not missing, "\n".join(sorted(set(missing)))


def test_the_citation_check_finds_what_it_looks_for() -> None:
    assert _problems('§8d, §6b "Final step", §6d #12, §11q') == []
    assert _problems("§9.1") == ["§9 has no item 1"]
    assert _problems('§6b "Elderly"') == ['§6b defines no term "Elderly"']
    assert _problems("§6b 'Elderly'") == ['§6b defines no term "Elderly"']
    assert _problems("§6d #3") == ["§6d has no scenario #3"]
    assert _problems("§14") == ["no §14"]
    assert _citations("x.py", "docs/clinical-reference.md §8b, §8c") == [(1, "§8b, §8c")]
    assert _citations("x.py", "docs/clinical-reference.md; Neurontin USPI §2.4; (docs/service-contract.md §9)") == []


def _kept_value(where: str) -> Fraction:
    """The number a ``Kept in`` cell names: ``module.CONSTANT`` of the clinical core, or ``file.json`` ``a.b``."""
    json_key = re.fullmatch(r"`([\w/.-]+\.json)` `([\w.-]+)`", where)
    if json_key is not None:
        data = json.loads((ROOT / "cds_service" / "clinical" / json_key.group(1)).read_text(encoding="utf-8"))
        node = data
        first = json_key.group(2).split(".")[0]
        if first not in data and "profiles" in data:  # a profile's own threshold
            node = data["profiles"]
        for part in json_key.group(2).split("."):
            node = node[part]
        return Fraction(str(node))
    constant = re.fullmatch(r"`([\w/]+)\.(\w+)`", where)
    assert constant is not None, f"not a constant or data-file key: {where}"
    module = importlib.import_module("cds_service.clinical." + constant.group(1).replace("/", "."))
    return Fraction(getattr(module, constant.group(2)))


def _wrong_rows(section: str) -> list[str]:
    """The rows of a "Where the numbers are kept" table whose file does not hold the number stated."""
    wrong = []
    for value, unit, where in re.findall(r"^\| ([\d.]+) ([^|]*?) \| [^|]+ \| ([^|]+?) \|$", section, re.MULTILINE):
        stated, kept = Fraction(value), _kept_value(where)
        # a share is kept as a fraction (4/5) or as a percentage (80)
        if kept != stated and not (unit == "%" and kept * 100 == stated):
            wrong.append(f"{value} {unit}: {where} holds {kept}")
    return wrong


def test_each_number_is_kept_where_the_reference_says() -> None:
    assert len(re.findall(r"^\| [\d.]+ ", SECTIONS["6g"], re.MULTILINE)) >= 30
    assert _wrong_rows(SECTIONS["6g"]) == []
    assert _wrong_rows("| 60 days | taper context | `history.TAPER_CONTEXT_DAYS` |\n"
                       "| 30 % | summary step | `profiles.json` `summary.max_step_percent` |") == [
        "60 days: `history.TAPER_CONTEXT_DAYS` holds 90", "30 %: `profiles.json` `summary.max_step_percent` holds 25"]


NOT_SCENARIOS = frozenset({"medication-prescribe", "order-sign", "order-select", "joint-2025", "va-dod"})
"""Hook and setting names a scenario line may mention beside the scenarios."""


def test_each_scenario_named_is_a_fixture() -> None:
    folders = {path.parent.name for path in (ROOT / "fhir_fixtures").rglob("expected.json")}
    # a list item or paragraph line with its indented continuation lines
    blocks = re.split(r"\n(?=\S)", TEXT)
    named = {token for block in blocks if "scenario" in block.lower()
             for token in re.findall(r"`([a-z0-9*]+(?:-[a-z0-9*]+)+)`", block)
             if token not in CARD_TYPES and token not in NOT_SCENARIOS}
    assert len(named) >= 40
    missing = sorted(token for token in named if not fnmatch.filter(folders, token))
    assert not missing, missing

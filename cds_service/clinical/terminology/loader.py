"""Loads the terminology data files and answers the clinical core's code questions.

Codes match by system + code (docs/clinical-reference.md §2: match on SCD/SBD codes via value sets). When a product
code is unknown, the ingredient, strength and form are read from the coding's display or the text
(e.g. "Diazepam 5mg tablets", "Valium 5 mg") and the product says ``matched_by="name"`` so that the
card can say so.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

from cds_service.clinical.model import (
    DoseUnit,
    DrugClass,
    EquivalenceTable,
    OpioidProduct,
    OpioidRole,
    Product,
    Route,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"

RXNORM_SYSTEMS = frozenset({RXNORM, "urn:oid:2.16.840.1.113883.6.88"})
"""The systems an RxNorm code comes under."""
_SNOMED_SYSTEMS = {SNOMED, "urn:oid:2.16.840.1.113883.6.96"}
_ICD10_SYSTEMS = {ICD10CM, "http://hl7.org/fhir/sid/icd-10", "urn:oid:2.16.840.1.113883.6.90"}
_LOINC_SYSTEMS = {LOINC, "urn:oid:2.16.840.1.113883.6.1"}
_DATA = Path(__file__).parent
_MENTION_MEMO_SIZE = 8192
_WORD = re.compile(r"[a-z]+")
MAX_MATCHED_TEXT = 200
"""Characters of a FHIR medication text that name matching reads. Product names are short; a longer text
(hostile or pasted) is cut before any pattern runs, so that the work per text is bounded."""
_STRENGTH = re.compile(
    r"(?<![\d.])(\d{1,6}(?:\.\d{1,6})?)\s{0,3}(mg|mcg|microgram)\s{0,3}(?:/\s{0,3}(\d{1,6}(?:\.\d{1,6})?)?\s{0,3}ml)?")
"""Strength as written ("5mg", "2 mg/5 mL"): every quantifier bounded, and a number is read only from its
first digit, so the search is linear in the (capped) text."""
_CAPSULE = re.compile(r"\b(caps?|capsules?)\b")
_INJECTION = re.compile(r"\b(inj|injection|injectable|iv|im|intravenous|intramuscular)\b")
_RECTAL = re.compile(r"\b(rectal|gel|enema|suppository)\b")
_NASAL = re.compile(r"\b(nasal|intranasal)\b")


class CodingLike(Protocol):
    """Anything with ``system``, ``code`` and ``display``: a record's Codings and :class:`SimpleCoding`."""

    @property
    def system(self) -> str | None: ...

    @property
    def code(self) -> str | None: ...

    @property
    def display(self) -> str | None: ...


class SimpleCoding(NamedTuple):
    """A coding read from raw JSON (a tuple: every medication, condition and observation of a record makes some)."""

    system: str | None
    code: str | None
    display: str | None = None


def _normal_icd(code: str) -> str:
    return code.replace(".", "").strip().upper()


@dataclass(frozen=True)
class _ConceptCodes:
    snomed: dict[str, frozenset[str]]
    icd10_exact: dict[str, frozenset[str]]
    icd10_prefixes: tuple[tuple[str, str], ...]
    remission_icd: tuple[str, ...]
    """ICD-10-CM F1x.11 / F1x.21 (in remission) are not a current use disorder (docs/clinical-reference.md §6b)."""

    def concepts(self, system: str | None, code: str | None) -> frozenset[str]:
        if not code:
            return frozenset()
        if system in _SNOMED_SYSTEMS:
            return self.snomed.get(code.strip(), frozenset())
        if system in _ICD10_SYSTEMS:
            normal = _normal_icd(code)
            found = set(self.icd10_exact.get(normal, frozenset()))
            found.update(concept for prefix, concept in self.icd10_prefixes if normal.startswith(prefix))
            if normal.startswith(self.remission_icd):
                found -= {"substance-use-disorder", "sedative-use-disorder"}
            return frozenset(found)
        return frozenset()


class Terminology:
    """Read-only code tables; build one with :func:`load_terminology`."""

    def __init__(self, data_dir: Path = _DATA) -> None:
        products = json.loads((data_dir / "products.json").read_text(encoding="utf-8"))["products"]
        self._products: dict[str, Product] = {row["code"]: _product(row) for row in products}
        names = json.loads((data_dir / "names.json").read_text(encoding="utf-8"))
        self._ingredient_codes: dict[str, str] = names["ingredient_codes"]
        self._class_of: dict[str, DrugClass] = {p.ingredient: p.drug_class for p in self._products.values()}
        self._brands: dict[str, str] = names["brands"]
        equivalence = json.loads((data_dir / "equivalence.json").read_text(encoding="utf-8"))["tables"]
        self._equivalence: dict[str, dict[str, Fraction]] = {
            table: {drug: Fraction(mg) for drug, mg in spec["equivalent_mg"].items()}
            for table, spec in equivalence.items()
        }
        self._conditions = _condition_codes(data_dir)
        loinc = json.loads((data_dir / "loinc.json").read_text(encoding="utf-8"))
        self._loinc: dict[str, frozenset[str]] = {}
        for concept, codes in loinc["concepts"].items():
            for code in codes:
                self._loinc[code] = self._loinc.get(code, frozenset()) | {concept}
        self._loinc_order = tuple(code for codes in loinc["concepts"].values() for code in codes)
        answer_sets: dict[str, dict[str, list[str]]] = {
            name: spec for name, spec in loinc["answer_sets"].items() if not name.startswith("_")}
        self._answers: dict[str, dict[str, str]] = {
            concept: {code: meaning for meaning, codes in answer_sets[kind].items() for code in codes}
            for concept, kind in loinc["answers"].items()}
        self._presence_concepts = frozenset(c for c, kind in loinc["answers"].items() if kind == "presence")
        words = sorted(set(self._class_of) | set(self._brands), key=len, reverse=True)
        self._name_pattern = _word_pattern(words)
        opioids = json.loads((data_dir / "opioids.json").read_text(encoding="utf-8"))
        self._opioids: dict[str, OpioidProduct] = {
            row["code"]: OpioidProduct(ingredient=row["ingredient"], role=cast(OpioidRole, row["role"]),
                                       display=row["display"], code=row["code"], matched_by="code")
            for row in opioids["products"]}
        self._opioid_names: dict[str, dict[str, str]] = opioids["names"]
        # The relevance filter looks words up in a set: a regex alternation of the ~160 names of benzodiazepines,
        # adjuncts, opioids and naloxone cost 40 µs per text; names of two words are looked up as word pairs.
        self._relevant_words = frozenset(name.lower() for name in [*words, *self._opioid_names])
        self._taper_words = frozenset(name.lower() for name in words)
        self._mentions: dict[str, bool] = {}

    def product(self, codings: Iterable[CodingLike], text: str | None = None) -> Product | None:
        """The product an order names: by RxNorm code first, else by ingredient name and strength in text."""
        codings = list(codings)
        for coding in codings:
            if coding.system in RXNORM_SYSTEMS and coding.code:
                code = coding.code.strip()
                if code in self._products:
                    return self._products[code]
                if code in self._ingredient_codes:
                    return self._ingredient_product(self._ingredient_codes[code], coding.display or code, code)
        for candidate in [c.display for c in codings] + [text]:
            if candidate:
                product = self._product_from_name(candidate)
                if product is not None:
                    return product
        return None

    def opioid(self, codings: Iterable[CodingLike], text: str | None = None) -> OpioidProduct | None:
        """The opioid or naloxone product an order names: by RxNorm code first, else by name in text.

        A name alone tells less than a code: buprenorphine with naloxone or sublingual buprenorphine is
        opioid-use-disorder treatment, a buprenorphine patch or buccal film an analgesic, other buprenorphine
        and methadone by name are ``pain-or-oud``."""
        codings = list(codings)
        for coding in codings:
            if coding.system in RXNORM_SYSTEMS and coding.code:
                code = coding.code.strip()
                if code in self._opioids:
                    return self._opioids[code]
                if code in self._products:
                    return None  # a known benzodiazepine or adjunct: no need to read its name
        for candidate in [c.display for c in codings] + [text]:
            if candidate:
                product = self._opioid_from_name(candidate)
                if product is not None:
                    return product
        return None

    def _opioid_from_name(self, text: str) -> OpioidProduct | None:
        text = text[:MAX_MATCHED_TEXT]
        lowered = text.lower()
        words = _WORD.findall(lowered)
        found = [self._opioid_names[name] for name in [*(f"{a} {b}" for a, b in itertools.pairwise(words)), *words]
                 if name in self._opioid_names]
        if not found:
            return None
        # the opioid of a combination, not its naloxone
        named = next((entry for entry in found if entry["ingredient"] != "naloxone"), found[0])
        ingredient, role = named["ingredient"], cast(OpioidRole, named["role"])
        if ingredient == "buprenorphine" and role == "pain-or-oud":
            if re.search(r"naloxone|sublingual|\bsl\b", lowered):
                role = "oud-treatment"
            elif re.search(r"patch|transdermal|buccal", lowered):
                role = "analgesic"
        elif ingredient == "methadone" and re.search(r"dispersible|concentrate", lowered):
            role = "oud-treatment"
        return OpioidProduct(ingredient=ingredient, role=role, display=text.strip(), code=None, matched_by="name")

    def equivalent_oral_dose_mg(self, ingredient: str, table: EquivalenceTable) -> Fraction | None:
        """Oral dose ≈ 10 mg oral diazepam under ``table`` (docs/clinical-reference.md §1a), or ``None`` if not
        printed."""
        return self._equivalence.get(table, {}).get(ingredient)

    def condition_concepts(self, codings: Iterable[CodingLike]) -> frozenset[str]:
        found: set[str] = set()
        for coding in codings:
            found |= self._conditions.concepts(coding.system, coding.code)
        return frozenset(found)

    def condition_code_concepts(self, system: str | None, code: str | None) -> frozenset[str]:
        """The concepts of one condition code (:meth:`condition_concepts` of a single coding)."""
        return self._conditions.concepts(system, code)

    def observation_concepts(self, codings: Iterable[CodingLike]) -> frozenset[str]:
        found: set[str] = set()
        for coding in codings:
            found |= self.observation_code_concepts(coding.system, coding.code)
        return frozenset(found)

    def observation_code_concepts(self, system: str | None, code: str | None) -> frozenset[str]:
        """The concepts of one observation code (:meth:`observation_concepts` of a single coding)."""
        if system in _LOINC_SYSTEMS and code:
            return self._loinc.get(code.strip(), frozenset())
        return frozenset()

    def observation_answer(self, concept: str, code: str | None) -> str | None:
        """What a coded result of ``concept`` means (``positive``, ``not-pregnant``, …), ``None`` for a code the
        concept's answer set does not list (``loinc.json`` ``answers``)."""
        return self._answers.get(concept, {}).get(code or "")

    def reads_presence(self, concept: str) -> bool:
        """Whether ``concept`` is a present/absent result, whose answer may also be written as text."""
        return concept in self._presence_concepts

    def observation_loinc_codes(self) -> tuple[str, ...]:
        return self._loinc_order

    def is_opioid_code(self, system: str | None, code: str | None) -> bool:
        """An opioid or naloxone code (CDC value sets)."""
        return system in RXNORM_SYSTEMS and code is not None and code in self._opioids

    @property
    def taper_medication_codes(self) -> frozenset[str]:
        """The RxNorm codes of the benzodiazepines, Z-drugs and adjuncts (:meth:`is_taper_medication_code`)."""
        return frozenset(self._products) | frozenset(self._ingredient_codes)

    def is_taper_medication_code(self, system: str | None, code: str | None) -> bool:
        """A benzodiazepine, Z-drug or adjunct code (not an opioid)."""
        return system in RXNORM_SYSTEMS and code is not None and (
            code in self._products or code in self._ingredient_codes)

    def mentions_taper_medication(self, text: str) -> bool:
        """Whether ``text`` names a benzodiazepine, Z-drug or adjunct (not an opioid)."""
        return _names_any(text, self._taper_words)

    def mentions_relevant_ingredient(self, text: str) -> bool:
        # Every medication of every record passes through here, and the same product names recur across
        # records: looking the names up is the costliest step of the relevance filter.
        known = self._mentions.get(text)
        if known is None:
            known = _names_any(text, self._relevant_words)
            if len(self._mentions) < _MENTION_MEMO_SIZE:
                self._mentions[text] = known
        return known

    def _ingredient_product(self, ingredient: str, display: str, code: str | None) -> Product:
        return Product(ingredient=ingredient, drug_class=self._class_of[ingredient], strength_mg=None,
                       unit="tablet", dose_form="unspecified", route="unknown", display=display, code=code,
                       matched_by="code")

    def _product_from_name(self, text: str) -> Product | None:
        text = text[:MAX_MATCHED_TEXT]
        match = self._name_pattern.search(text)
        if match is None:
            return None
        word = match.group(1).lower()
        ingredient = self._brands.get(word, word)
        lowered = text.lower()
        strength = _STRENGTH.search(lowered)
        unit: DoseUnit = "tablet"
        strength_mg: Fraction | None = None
        if strength:
            strength_mg = Fraction(strength.group(1)) / (1000 if strength.group(2) != "mg" else 1)
            if "ml" in strength.group(0):
                per_ml = Fraction(strength.group(3)) if strength.group(3) else Fraction(1)
                strength_mg, unit = strength_mg / per_ml, "mL"
        if unit != "mL" and _CAPSULE.search(lowered):
            unit = "capsule"
        route: Route = "oral"
        rescue = False
        if "intrathecal" in lowered:
            route = "intrathecal"
        elif _INJECTION.search(lowered):
            route, rescue = "injection", True
        elif _RECTAL.search(lowered):
            route, rescue = "rectal", True
        elif _NASAL.search(lowered):
            route, rescue = "nasal", True
        if self._class_of[ingredient] != "benzodiazepine":
            rescue = False
        return Product(ingredient=ingredient, drug_class=self._class_of[ingredient], strength_mg=strength_mg,
                       unit=unit, dose_form="as written", route=route, display=text.strip(), code=None,
                       matched_by="name", rescue=rescue)


def _names_any(text: str, names: frozenset[str]) -> bool:
    """Whether a word, or a pair of words, of ``text`` is one of ``names`` (lower case)."""
    found = _WORD.findall(text[:MAX_MATCHED_TEXT].lower())
    return any(word in names for word in found) or any(
        f"{first} {second}" in names for first, second in itertools.pairwise(found))


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """Any of ``words`` as a whole word, longest first, ignoring case."""
    ordered = sorted(words, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in ordered) + r")\b", re.IGNORECASE)


def _product(row: dict[str, Any]) -> Product:
    return Product(
        ingredient=row["ingredient"],
        drug_class=cast(DrugClass, row["drug_class"]),
        strength_mg=Fraction(row["strength_mg"]),
        unit=cast(DoseUnit, row["unit"]),
        dose_form=row["dose_form"],
        route=cast(Route, row["route"]),
        display=row["display"],
        code=row["code"],
        matched_by="code",
        rescue=bool(row["rescue"]),
        combination=bool(row.get("combination", False)),
    )


def _condition_codes(data_dir: Path) -> _ConceptCodes:
    concepts = json.loads((data_dir / "conditions.json").read_text(encoding="utf-8"))["concepts"]
    snomed: dict[str, set[str]] = {}
    icd_exact: dict[str, set[str]] = {}
    prefixes: list[tuple[str, str]] = []
    for concept, spec in concepts.items():
        for code in spec["snomed"]:
            snomed.setdefault(code, set()).add(concept)
        for code in spec["icd10"]:
            if code.endswith("*"):
                prefixes.append((_normal_icd(code[:-1]), concept))
            else:
                icd_exact.setdefault(_normal_icd(code), set()).add(concept)
    # CDC substance-misuse value set: every member is a substance-use disorder except tobacco/nicotine
    # (CDC's compose excludes F17 and tobacco subtrees), remission concepts (their own tag), and
    # withdrawal concepts: withdrawal shows physical dependence, which is not a use disorder
    # (2025 Joint Guideline, guiding principle: "physical dependence ≠ SUD").
    misuse = json.loads((data_dir / "substance_misuse.json").read_text(encoding="utf-8"))["codes"]
    for entry in misuse:
        display = entry["display"].lower()
        if "tobacco" in display or "nicotine" in display or "withdrawal" in display:
            continue
        if entry["system"] == SNOMED:
            tag = "substance-use-disorder-in-remission" if "remission" in display else "substance-use-disorder"
            snomed.setdefault(entry["code"], set()).add(tag)
    remission_icd = tuple(_normal_icd(f"F1{n}.{kind}") for n in "0123456789" if n != "7" for kind in ("11", "21"))
    prefixes.extend((prefix, "substance-use-disorder-in-remission") for prefix in remission_icd)
    return _ConceptCodes(
        snomed={code: frozenset(tags) for code, tags in snomed.items()},
        icd10_exact={code: frozenset(tags) for code, tags in icd_exact.items()},
        icd10_prefixes=tuple(prefixes),
        remission_icd=remission_icd,
    )


@cache
def load_terminology() -> Terminology:
    return Terminology()

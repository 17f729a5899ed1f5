"""Plain value types shared by the clinical core (terminology, dosing, history, rules)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Literal

DrugClass = Literal["benzodiazepine", "z-drug", "baclofen", "gabapentin", "pregabalin", "carbamazepine",
                    "oxcarbazepine", "opioid"]
"""The groups the rules reason about (docs/clinical-reference.md §2); ``opioid`` products come from the opioid
terminology (:class:`OpioidProduct`) and never count toward a benzodiazepine total."""

Route = Literal["oral", "sublingual", "buccal", "intrathecal", "injection", "rectal", "nasal", "unknown"]

DoseUnit = Literal["tablet", "capsule", "mL", "film", "spray", "gel", "unit"]
"""What one counted dose unit of a product is; strength_mg is per one of these."""

EquivalenceTable = Literal["ashton", "va-dod"]

MatchedBy = Literal["code", "name"]


@dataclass(frozen=True)
class Product:
    """A medication product identified from an order's coding (or, failing that, its name).

    ``strength_mg`` is milligrams of ``ingredient`` per ``unit`` (per tablet, capsule or film; per mL
    for solutions and suspensions). It is ``None`` when the strength is unknown, e.g. a bare
    ingredient code or a name without a strength.
    """

    ingredient: str
    drug_class: DrugClass
    strength_mg: Fraction | None
    unit: DoseUnit
    dose_form: str
    route: Route
    display: str
    code: str | None
    matched_by: MatchedBy
    rescue: bool = False
    """Seizure-rescue or procedural product (rectal gel, nasal spray, auto-injector, injectable)."""
    combination: bool = False
    """Contains another active ingredient (e.g. chlordiazepoxide with clidinium): never suggested in a plan."""
    in_taper_math: bool = field(init=False, repr=False, compare=False)
    """Whether doses of this product count toward the ambulatory taper (docs/clinical-reference.md §6b "BZD order
    set": injectable and rescue products are excluded). Set from ``rescue`` and ``route`` when the product is made,
    as is the hash: every course of a long history asks, several times."""
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_taper_math",
                           not self.rescue and self.route in ("oral", "sublingual", "buccal", "unknown"))
        object.__setattr__(self, "_hash", hash(tuple(getattr(self, f.name) for f in fields(self) if f.compare)))

    def __hash__(self) -> int:
        """The hash of the fields, computed once: the dose reader looks every order's dose up by its product
        (dosing.DoseReader), thousands of times in a long history."""
        return self._hash


OpioidRole = Literal["analgesic", "oud-treatment", "pain-or-oud", "rescue-naloxone"]
"""What an opioid or naloxone product is for (how each product is classed: scripts/build_terminology.py
``opioid_role``). ``pain-or-oud``: methadone products prescribed for either; the order's reason or the
patient's conditions decide."""


@dataclass(frozen=True)
class OpioidProduct:
    """An opioid (analgesic or opioid-use-disorder treatment) or rescue-naloxone product of an order."""

    ingredient: str
    """The opioid of the product (``buprenorphine`` for buprenorphine/naloxone), or ``naloxone``."""
    role: OpioidRole
    display: str
    code: str | None
    matched_by: MatchedBy

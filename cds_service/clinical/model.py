"""Plain value types shared by the clinical core (terminology, dosing, history, rules)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

DrugClass = Literal["benzodiazepine", "z-drug", "baclofen", "gabapentin", "pregabalin", "carbamazepine"]
"""The groups the rules reason about (clinical.md §2)."""

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

    @property
    def in_taper_math(self) -> bool:
        """Whether doses of this product count toward the ambulatory taper (clinical.md §6b "BZD order set":
        injectable and rescue products are excluded)."""
        return not self.rescue and self.route in ("oral", "sublingual", "buccal", "unknown")

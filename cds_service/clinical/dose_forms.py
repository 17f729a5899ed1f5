"""The oral forms a taper step can be given with, and the smallest dose each can give.

Data: ``terminology/dose_forms.json`` (marketed US immediate-release strengths with their RxNorm codes and
the labels' scoring; sources there). Only scored tablets are halved; capsules and orally disintegrating
tablets are given whole; oral liquids are measured with an oral syringe in 0.1 mL steps.

The smallest givable dose is the product half of the final-step definition (docs/clinical-reference.md §8d:
a stop is the final step from "the smallest dose the patient's product can give (half of the smallest
marketed scored tablet, one smallest capsule)").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Literal, cast

from cds_service.clinical.model import Product
from cds_service.clinical.wording import number

FormKind = Literal["tablet", "odt", "capsule", "liquid"]
_DATA = Path(__file__).parent / "terminology" / "dose_forms.json"
_UNIT_WORDS: dict[FormKind, tuple[str, str]] = {
    "tablet": ("tablet", "tablets"), "odt": ("orally disintegrating tablet", "orally disintegrating tablets"),
    "capsule": ("capsule", "capsules"), "liquid": ("mL", "mL"),
}


@dataclass(frozen=True)
class DoseForm:
    ingredient: str
    code: str
    """RxNorm SCD."""
    display: str
    kind: FormKind
    strength_mg: Fraction
    """mg per tablet or capsule; mg per mL for liquids."""
    scored: bool = False
    measure_ml: Fraction | None = None

    @property
    def is_solid(self) -> bool:
        return self.kind != "liquid"

    @property
    def step_units(self) -> Fraction:
        """The smallest amount that can be given: ½ a scored tablet, 1 unscored tablet or capsule, or the
        smallest measured volume."""
        if self.kind == "liquid":
            return self.measure_ml or Fraction(1)
        return Fraction(1, 2) if self.kind == "tablet" and self.scored else Fraction(1)

    @property
    def step_mg(self) -> Fraction:
        return self.step_units * self.strength_mg

    def amount(self, units: Fraction) -> str:
        """``Fraction(3, 2)`` tablets → "1½ tablets"; liquids in mL with one decimal."""
        singular, plural = _UNIT_WORDS[self.kind]
        if self.kind == "liquid":
            return f"{number(units)} mL"
        whole, half = divmod(units, 1)
        text = (str(int(whole)) if whole else "") + ("½" if half else "")
        return f"{text} {singular if units <= 1 else plural}"


class DoseForms:
    """Read-only table of plannable forms; build one with :func:`load_dose_forms`."""

    def __init__(self, path: Path = _DATA) -> None:
        rows = json.loads(path.read_text(encoding="utf-8"))["ingredients"]
        self._forms: dict[str, tuple[DoseForm, ...]] = {
            ingredient: tuple(DoseForm(
                ingredient=ingredient, code=row["code"], display=row["display"], kind=cast(FormKind, row["form"]),
                strength_mg=Fraction(row["strength_mg"]), scored=bool(row.get("scored", False)),
                measure_ml=Fraction(row["measure_ml"]) if "measure_ml" in row else None,
            ) for row in entries)
            for ingredient, entries in rows.items()
        }
        self._by_code = {form.code: form for forms in self._forms.values() for form in forms}

    @property
    def ingredients(self) -> tuple[str, ...]:
        return tuple(sorted(self._forms))

    def forms(self, ingredient: str) -> tuple[DoseForm, ...]:
        return self._forms.get(ingredient, ())

    def by_code(self, code: str | None) -> DoseForm | None:
        return self._by_code.get(code or "")

    def kind_of(self, product: Product) -> FormKind | None:
        """The kind of form a product is (from the table, else from its RxNorm dose form)."""
        known = self.by_code(product.code)
        if known is not None:
            return known.kind
        if product.unit == "mL":
            return "liquid"
        if product.unit == "capsule" and "Extended" not in product.dose_form:
            return "capsule"
        if product.unit == "tablet" and "Extended" not in product.dose_form:
            return "odt" if "Disintegrating" in product.dose_form else "tablet"
        return None

    def smallest_givable_mg(self, ingredient: str, product: Product | None = None) -> Fraction | None:
        """The smallest dose the patient's product can give: half the smallest scored tablet, one smallest
        capsule or unscored tablet, or the smallest measured volume of the liquid — over the marketed
        strengths of the same kind of form (the prescription can name another strength); any oral form of the
        drug when the product's kind is not known. ``None`` for a drug no form is listed for."""
        forms = self.forms(ingredient)
        kind = self.kind_of(product) if product is not None else None
        same_kind = [form for form in forms if form.kind == kind] or [form for form in forms if form.is_solid]
        return min((form.step_mg for form in same_kind), default=None)


@cache
def load_dose_forms() -> DoseForms:
    return DoseForms()

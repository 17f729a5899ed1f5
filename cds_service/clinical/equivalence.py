"""Diazepam-equivalents: the one computation the cards, the taper planner and the plan page share.

docs/clinical-reference.md §6b "DE of an order" (daily mg × 10 / the drug's equivalent dose) and §8c (a table
without a factor for a drug says so; nothing is guessed and nothing silently counts as 0).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

from cds_service.clinical.dosing import diazepam_equivalent_mg
from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.terminology import Terminology
from cds_service.clinical.wording import number

_TABLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "terminology" / "equivalence.json").read_text(encoding="utf-8"))["tables"]
TABLES: tuple[EquivalenceTable, ...] = tuple(cast(EquivalenceTable, code) for code in _TABLES)
"""The equivalence tables, in the order cards state them (``terminology/equivalence.json``, with their sources)."""
TABLE_NAMES: dict[EquivalenceTable, str] = {table: _TABLES[table]["name"] for table in TABLES}
"""How cards and pages name each table."""


def other_table(table: EquivalenceTable) -> EquivalenceTable:
    """The table that is not ``table`` (there are two: docs/clinical-reference.md §1a)."""
    return next(other for other in TABLES if other != table)


@dataclass(frozen=True)
class DiazepamEquivalent:
    """The total daily diazepam-equivalent of one or more drugs under one table, or which factors it lacks."""

    table: EquivalenceTable
    mg: Fraction | None
    """``None`` when the table has no factor for a drug taken (:attr:`missing`)."""
    missing: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """``30 mg`` or ``no VA/DoD factor for clobazam`` — never a number for a drug the table lacks."""
        if self.mg is None:
            return f"no {TABLE_NAMES[self.table]} factor for {', '.join(self.missing)}"
        return f"{number(self.mg)} mg"


def diazepam_equivalent(terminology: Terminology, doses: Iterable[tuple[str, Fraction]],
                        table: EquivalenceTable) -> DiazepamEquivalent:
    """Total diazepam-equivalent of ``doses`` (ingredient, daily mg) under ``table``; a drug the table has no
    factor for makes the total unknown and is named (docs/clinical-reference.md §8c)."""
    total = Fraction(0)
    missing: list[str] = []
    for ingredient, daily_mg in doses:
        equivalent = terminology.equivalent_oral_dose_mg(ingredient, table)
        if equivalent is None:
            if ingredient not in missing:
                missing.append(ingredient)
            continue
        total += diazepam_equivalent_mg(daily_mg, equivalent)
    return DiazepamEquivalent(table, None if missing else total, tuple(missing))


def drug_mg(terminology: Terminology, ingredient: str, de_mg: Fraction, table: EquivalenceTable) -> Fraction | None:
    """The daily mg of ``ingredient`` whose diazepam-equivalent under ``table`` is ``de_mg`` — §6b "DE of an order"
    solved for the dose (DE × equivalent dose / 10): e.g. 10 mg DE of lorazepam under Ashton (1 mg ≈ 10 mg
    diazepam) is 1 mg. ``None`` when the table has no factor for the drug (§8c)."""
    equivalent = terminology.equivalent_oral_dose_mg(ingredient, table)
    return de_mg * equivalent / 10 if equivalent is not None else None


def table_with_factor(terminology: Terminology, ingredients: Iterable[str],
                      configured: EquivalenceTable) -> EquivalenceTable:
    """The table diazepam-equivalents are stated in: the configured one, unless it lacks a factor for one of
    ``ingredients`` and the other table has them all (docs/clinical-reference.md §8c)."""
    drugs = tuple(ingredients)
    other = other_table(configured)

    def lacks(table: EquivalenceTable) -> bool:
        return any(terminology.equivalent_oral_dose_mg(drug, table) is None for drug in drugs)
    return other if lacks(configured) and not lacks(other) else configured

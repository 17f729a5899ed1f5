"""The gabapentinoid label tables by kidney function (``renal_dosing.json``: Neurontin USPI §2.4 Table 1, Lyrica USPI;
docs/clinical-reference.md §4a–4b): the row for a creatinine clearance, and its maximum daily dose."""

from __future__ import annotations

import json
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any


@cache
def label_tables() -> dict[str, Any]:
    """Each drug's rows, normal-function columns and givable products, as ``renal_dosing.json`` states them."""
    data: dict[str, Any] = json.loads((Path(__file__).parent / "renal_dosing.json").read_text(encoding="utf-8"))
    return data


def label_row(ingredient: str, crcl: Fraction) -> dict[str, Any] | None:
    """The label's row for a creatinine clearance: the first whose lower bound it meets (rows top to bottom);
    ``None`` for a drug without a table."""
    table = label_tables().get(ingredient)
    if table is None:
        return None
    for row in table["rows"]:
        if ("min_crcl" in row and crcl >= Fraction(row["min_crcl"])) or (
                "above_crcl" in row and crcl > Fraction(row["above_crcl"])):
            return dict(row)
    return None


def max_daily_mg(row: dict[str, Any], crcl: Fraction) -> Fraction:
    """The row's maximum; below 15 mL/min gabapentin is reduced in proportion to CrCl (label footnote a), from
    CrCl as the card prints it (one decimal), so that the arithmetic on the card is exact."""
    maximum = Fraction(row["max_mg"])
    below = row.get("proportional_below")
    if below is not None and crcl < Fraction(below):
        maximum = maximum * max(Fraction(round(crcl, 1)), Fraction(0)) / Fraction(below)
    return maximum

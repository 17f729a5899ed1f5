"""How numbers are shown to prescribers: exact values rounded only at the last moment."""

from __future__ import annotations

from fractions import Fraction


def number(value: Fraction, places: int = 2) -> str:
    """``Fraction(25, 2)`` → ``12.5``; ``Fraction(50, 3)`` → ``16.67``; no trailing zeros."""
    rounded = round(value, places)
    text = f"{float(rounded):.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def mg(value: Fraction) -> str:
    return f"{number(value)} mg"


def percent(value: Fraction) -> str:
    return f"{number(value, 1)} %"

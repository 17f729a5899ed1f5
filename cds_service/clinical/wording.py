"""How numbers and record text are shown to prescribers — the one formatting path of every card and of the
taper-plan page.

The rules of numbers, decided once here (README "Cards", docs/clinical-reference.md §6f):

- **Doses and amounts** (mg, mL, tablets, diazepam-equivalents) are exact values rounded only at the last
  moment: a value with at most three decimal places is printed exactly (1400, 20, 0.125, 12.5), anything longer
  is rounded to two places (16.67 mg) — :data:`EXACT_PLACES`, :data:`DOSE_PLACES`.
- **Percentages** are printed to one decimal place ("66.7 %", "31.3 %", "25 %") — :data:`PERCENT_PLACES`: limits
  are whole percents, and a tenth is all a step needs to be compared with them.
- **Measured values** (kidney function in mL/min, weight in kg, days of use a week, months of a plan) are
  printed to one decimal place (CrCl 40.3) — :data:`MEASURE_PLACES`.
- Halves round away from zero, as a prescriber rounds by hand (31.25 % → 31.3 %, not Python's
  round-half-to-even 31.2 %); whole numbers never gain a decimal ("25 %", not "25.0 %").

Text taken from the patient's record is shown as plain text (docs/service-contract.md §9: FHIR-derived strings are
escaped, one line, capped) by :func:`plain_text`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

EXACT_PLACES = 3
"""A value with up to this many decimal places is printed as it is (0.125 mg is a real clonazepam dose)."""
DOSE_PLACES = 2
"""A dose or amount with more decimals than :data:`EXACT_PLACES` is rounded to this many (16.67 mg)."""
PERCENT_PLACES = 1
"""Percentages: one decimal place (66.7 %)."""
MEASURE_PLACES = 1
"""Measured values (kidney function, weight, days a week, months): one decimal place."""

MAX_RECORD_TEXT = 120
"""Longest piece of record text a card repeats (a condition name, a product as written)."""


def number(value: Fraction | int | float | str, places: int | None = None) -> str:
    """``1400`` → ``1400``; ``Fraction(1, 8)`` → ``0.125``; ``Fraction(50, 3)`` → ``16.67``.

    Without ``places`` a value with at most three decimals is exact and a longer one is rounded to two;
    with ``places`` it is rounded to that many (CrCl to whole mL/min, percentages to one decimal). Never trims
    the zeros of a whole number, never switches to exponent notation, never prints ``-0``.
    """
    if type(value) is int:
        return str(value)  # rounding never changes a whole number, and it has no zeros to trim
    exact = value if isinstance(value, Fraction) else \
        Fraction(str(value)) if isinstance(value, float | str) else Fraction(value)
    if exact.denominator == 1:
        return str(exact.numerator)
    return _fraction_text(exact, places)


@lru_cache(maxsize=4096)
def _fraction_text(exact: Fraction, places: int | None) -> str:
    # Cached: every dose explanation and card line prints a handful of recurring values (0.5, 12.5, 33.3), and
    # the exact rounding below costs tens of microseconds a value; the cache is bounded and the function pure.
    if places is not None:
        exact = _round_half_up(exact, places)
    elif exact != _round_half_up(exact, EXACT_PLACES):
        exact = _round_half_up(exact, DOSE_PLACES)
    text = format(Decimal(exact.numerator) / Decimal(exact.denominator), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _round_half_up(value: Fraction, places: int) -> Fraction:
    # On the exact fraction, not a float or a precision-limited Decimal, so 0.00499… can never become a tie.
    scale = Fraction(10) ** places
    magnitude = Fraction(math.floor(abs(value) * scale + Fraction(1, 2))) / scale
    return magnitude if value >= 0 else -magnitude


def mg(value: Fraction) -> str:
    return f"{number(value)} mg"


def percent(value: Fraction) -> str:
    """``Fraction(200, 3)`` → ``66.7 %``; ``Fraction(25)`` → ``25 %``."""
    return f"{number(value, PERCENT_PLACES)} %"


def measured(value: Fraction | int | float) -> str:
    """A measured value (kidney function, weight, days a week): ``Fraction(403, 10)`` → ``40.3``."""
    return number(value, MEASURE_PLACES)


def change(reduction_percent: Fraction) -> str:
    """A signed reduction in words: ``25`` → ``25 % reduction``, ``-50`` → ``50 % increase``, ``0`` → ``no change``."""
    if reduction_percent == 0:
        return "no change"
    return f"{percent(abs(reduction_percent))} {'reduction' if reduction_percent > 0 else 'increase'}"


_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
"""Characters that make emphasis, code, links, images, tables or strike-through anywhere in a line."""
_LINE_START = re.compile(r"^([#+-]|\d+(?=[.)]))")
"""What makes a heading or a list (a quote marker is already an entity) at the start of a line."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_SCHEME = re.compile(r"\b([a-z][a-z0-9+.-]{0,31}):(?=//)|\b(mailto|xmpp|tel|sms|javascript|vbscript|data|file):",
                     re.IGNORECASE)
"""A URL scheme: ``https://``, ``ftp://``, and the schemes linkifiers take without slashes (``mailto:``)."""
_HOST = re.compile(r"(?<![\w.-])(?:[a-z0-9-]+\.)+[a-z][a-z0-9-]*[a-z0-9](?![\w-])", re.IGNORECASE)
"""A host name (``www.example.org``, ``evil.example``, the domain of an e-mail address): labels joined by dots
and ending in a label of two or more characters that starts with a letter — never a dose (``0.5``, ``q.i.d.``)."""


def _invisible(character: str) -> bool:
    # Unicode "format" characters: bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), zero-width
    # spaces and joiners, the byte-order mark, soft hyphens, tag characters — they can reorder or hide what a card
    # shows without being seen themselves.
    return unicodedata.category(character) == "Cf"


def _no_links(text: str) -> str:
    """Defanged as security write-ups do — ``https[:]//evil[.]example/x``, ``www[.]example[.]org`` — so that no
    Markdown renderer (GitHub-flavoured autolinks, linkify) turns record text into a live link, while a reader still
    sees what the record says."""
    text = _SCHEME.sub(lambda m: f"{m.group(1) or m.group(2)}[:]", text)
    return _HOST.sub(lambda m: m.group(0).replace(".", "[.]"), text)


def plain_text(value: object, limit: int = MAX_RECORD_TEXT) -> str:
    """Text from the patient's record (condition text, medication text, a display, a dose unit as written) as it
    may appear on a card — the one path every record-derived string takes into card text: one line, at most
    ``limit`` characters (cut with "…"), HTML and Markdown shown literally, links and autolinks (URLs, ``www.``
    names, e-mail addresses) defanged, bidirectional-override and zero-width characters removed — so a record can
    never add a link, an image, emphasis, a heading, markup or hidden reordering to a card."""
    raw = str(value)[: limit * 4]  # bounded work for any input
    if not raw.isascii():
        raw = "".join(c for c in raw if not _invisible(c))
    text = " ".join(_CONTROL.sub(" ", raw).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = _LINE_START.sub(lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit() else "\\" + m.group(1),
                           _MARKDOWN.sub(r"\\\1", _no_links(text)))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

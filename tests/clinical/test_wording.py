"""What the prescriber reads: every number through one formatter, record text as inert plain text."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cds_service.clinical.wording import MAX_RECORD_TEXT, _fraction_text, measured, mg, number, percent, plain_text


@pytest.mark.parametrize(("value", "text"), [
    (2, "2"), (10, "10"), (20, "20"), (100, "100"), (150, "150"), (700, "700"), (1400, "1400"), (2000, "2000"),
    (Fraction(1, 4), "0.25"), (Fraction(1, 8), "0.125"), (Fraction(25, 2), "12.5"), (Fraction(50, 3), "16.67"),
    (Fraction(0), "0"), (Fraction(-1, 1000), "-0.001"), (Fraction(-1, 10**6), "0"), (1400.0, "1400"),
    (Fraction(10**7), "10000000"), ("0.10", "0.1"),
])
def test_numbers_are_printed_exactly(value: Fraction | int, text: str) -> None:
    assert number(value) == text


@pytest.mark.parametrize(("value", "places", "text"), [
    (Fraction(1400), 0, "1400"), (Fraction(20), 0, "20"), (Fraction(700), 0, "700"), (Fraction(150), 0, "150"),
    (Fraction(4027, 100), 0, "40"), (Fraction(100, 3), 1, "33.3"), (Fraction(25, 2), 1, "12.5"),
])
def test_places_only_round_what_is_not_exact(value: Fraction, places: int, text: str) -> None:
    assert number(value, places) == text


@pytest.mark.parametrize(("value", "places", "text"), [
    (Fraction(3125, 100), 1, "31.3"), (Fraction(5, 2), 0, "3"), (Fraction(1, 2), 0, "1"), (Fraction(25, 4), 1, "6.3"),
    (Fraction(-5, 2), 0, "-3"), (Fraction(16665, 1000), 2, "16.67"), (Fraction(3124999, 100000), 1, "31.2"),
])
def test_halves_round_up_as_a_prescriber_expects(value: Fraction, places: int, text: str) -> None:
    assert number(value, places) == text


def test_shortcuts_print_what_the_exact_rounding_prints() -> None:
    """Whole numbers skip the rounding and other values are remembered: both must print exactly what the exact
    rounding prints, for ints, whole and fractional values, every number of places, first call and repeats."""
    exact_rounding = _fraction_text.__wrapped__
    for value in [Fraction(n, d) for n in range(-40, 1500, 7) for d in (1, 2, 3, 8, 16, 1000, 3000)]:
        for places in (None, 0, 1, 2):
            expected = exact_rounding(value, places)
            assert number(value, places) == number(value, places) == expected, (value, places)
            if value.denominator == 1:
                assert number(value.numerator, places) == expected


def test_units_and_percent_share_the_formatter() -> None:
    assert mg(Fraction(1400)) == "1400 mg" and mg(Fraction(1, 8)) == "0.125 mg"
    assert percent(Fraction(100, 3)) == "33.3 %" and percent(Fraction(20)) == "20 %" and percent(Fraction(25, 2)) \
        == "12.5 %"
    assert percent(Fraction(125, 4)) == "31.3 %"


@pytest.mark.parametrize(("record", "shown"), [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("[click](javascript:alert(1))", "\\[click\\](javascript\\[:\\]alert(1))"),
    ("![x](https://evil.example/p.png)", "!\\[x\\](https\\[:\\]//evil\\[.\\]example/p\\[.\\]png)"),
    ("**bold** _it_ `code` ~~gone~~ a|b", "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~\\~gone\\~\\~ a\\|b"),
    ("line one\nline two\r\n\n# heading", "line one line two # heading"),
    ("# Heading", "\\# Heading"), ("- item", "\\- item"), ("1. first", "1\\. first"), ("12) x", "12\\) x"),
    ("> quote", "&gt; quote"),
    ("Generalized anxiety disorder", "Generalized anxiety disorder"), ("F13.20 & R56.9", "F13.20 &amp; R56.9"),
])
def test_record_text_is_plain(record: str, shown: str) -> None:
    assert plain_text(record) == shown


def test_record_text_is_capped() -> None:
    shown = plain_text("diazepam " + "9" * 10_000)
    assert len(shown) == MAX_RECORD_TEXT and shown.endswith("…") and shown.startswith("diazepam 999")


@pytest.mark.parametrize(("record", "shown"), [
    # a Markdown link: not a link, and its target not an autolink either
    ("[Renew](https://evil.example/x)", "\\[Renew\\](https\\[:\\]//evil\\[.\\]example/x)"),
    # bare URLs and www. names, which GitHub-flavoured renderers and linkify turn into links
    ("call https://evil.example/refill now", "call https\\[:\\]//evil\\[.\\]example/refill now"),
    ("http://192.168.0.1/admin", "http\\[:\\]//192.168.0.1/admin"),
    ("renew at www.evil-pharmacy.com today", "renew at www\\[.\\]evil-pharmacy\\[.\\]com today"),
    ("evil.example", "evil\\[.\\]example"), ("mailto:x@evil.example", "mailto\\[:\\]x@evil\\[.\\]example"),
    ("ask refills@evil.example", "ask refills@evil\\[.\\]example"),
    ("<https://evil.example>", "&lt;https\\[:\\]//evil\\[.\\]example&gt;"),
    # bidirectional overrides and zero-width characters: removed, so what is shown is what is there
    ("diazepam \u202e01 gm\u202c", "diazepam 01 gm"), ("lora\u200bzepam\u2066 1 mg\u2069\ufeff", "lorazepam 1 mg"),
    ("www\u200b.evil\u200d.com", "www\\[.\\]evil\\[.\\]com"),
    # doses and codes stay as written
    ("lorazepam 0.5 MG Oral Tablet", "lorazepam 0.5 MG Oral Tablet"),
    ("1 tab q.i.d. e.g. 2.5mg", "1 tab q.i.d. e.g. 2.5mg"),
    ("F13.20", "F13.20"),
])
def test_record_text_carries_no_link_and_no_hidden_character(record: str, shown: str) -> None:
    assert plain_text(record) == shown


def test_the_rules_of_numbers_are_decided_once() -> None:
    """Doses exact to three decimals, longer ones to two places; percentages and measured values to one decimal
    place (README "Cards", docs/clinical-reference.md §6f)."""
    assert mg(Fraction(1, 8)) == "0.125 mg" and mg(Fraction(50, 3)) == "16.67 mg" and mg(Fraction(25)) == "25 mg"
    assert percent(Fraction(200, 3)) == "66.7 %" and percent(Fraction(50, 3)) == "16.7 %" and percent(Fraction(25)) \
        == "25 %"
    assert measured(Fraction(4027, 100)) == "40.3" and measured(Fraction(75, 10)) == "7.5" and measured(56) == "56"

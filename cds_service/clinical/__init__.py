"""The pure clinical core: from a parsed patient record and a reference time to findings.

Nothing in this package reads the clock, the environment or the network, and nothing imports Flask. Quantities are
:class:`fractions.Fraction` so that doses,
diazepam-equivalents and percentages are exact; they are rounded only when shown to a person.
"""

"""Taper-rate thresholds by profile, read from ``profiles.json`` (sources cited there)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

OLDER_ADULT_AGE = 65
"""Joint Guideline rec. 27 and Beers 2023 apply from age 65 (docs/clinical-reference.md §6b "Older adult")."""


@dataclass(frozen=True)
class TaperProfile:
    code: str
    name: str
    source: str
    published: str
    """Where a reader finds the profile's thresholds published (or that they are not): cards and pages say it."""
    max_step_percent: Fraction | None
    min_interval_days: int
    window_days: int | None
    max_window_percent: Fraction | None
    max_initial_step_percent: Fraction | None
    long_term_window_days: int
    long_term_max_percent: Fraction
    older_adult_max_step_percent: Fraction
    older_adult_min_interval_days: int

    @property
    def step_limit_percent(self) -> Fraction:
        """The largest single reduction the profile allows at a regular step."""
        return self.max_step_percent if self.max_step_percent is not None else self.max_window_percent or Fraction(25)


def _fraction(value: Any) -> Fraction | None:
    return Fraction(value) if value is not None else None


_PROFILES: dict[str, Any] = json.loads((Path(__file__).parent / "profiles.json").read_text(encoding="utf-8"))[
    "profiles"]
PROFILE_CODES: tuple[str, ...] = tuple(_PROFILES)
"""The profiles a deployment may choose (``CDS_TAPER_PROFILE``) and the taper-plan page offers."""


@cache
def taper_profile(code: str) -> TaperProfile:
    spec = _PROFILES[code]
    return TaperProfile(
        code=code,
        name=spec["name"],
        source=spec["source"],
        published=spec["published"],
        max_step_percent=_fraction(spec["max_step_percent"]),
        min_interval_days=spec["min_interval_days"],
        window_days=spec["window_days"],
        max_window_percent=_fraction(spec["max_window_percent"]),
        max_initial_step_percent=_fraction(spec["max_initial_step_percent"]),
        long_term_window_days=spec["long_term_window_days"],
        long_term_max_percent=Fraction(spec["long_term_max_percent"]),
        older_adult_max_step_percent=Fraction(spec["older_adult_max_step_percent"]),
        older_adult_min_interval_days=spec["older_adult_min_interval_days"],
    )

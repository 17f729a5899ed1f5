"""Taper-rate thresholds by profile, read from ``profiles.json`` (sources cited there)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from cds_service.clinical.wording import number, percent

PROFILES_FILE = Path(__file__).parent / "profiles.json"
"""The thresholds, each with its source: the two profiles' and those every profile shares."""


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
    advised_step_percent_from: Fraction
    advised_interval_days_to: int

    @property
    def step_limit_percent(self) -> Fraction:
        """The largest single reduction the profile allows at a regular step."""
        return self.max_step_percent if self.max_step_percent is not None else self.max_window_percent or Fraction(25)

    @property
    def advised_steps(self) -> str:
        """The reductions the profile's guidance advises, up to its first-step limit: ``10–25 %``."""
        limit = self.max_initial_step_percent if self.max_initial_step_percent is not None else self.step_limit_percent
        return f"{number(self.advised_step_percent_from)}–{percent(limit)}"

    @property
    def advised_interval(self) -> str:
        """How often the guidance advises a reduction: ``1–2 weeks`` (from the profile's window, else its minimum
        interval, to ``advised_interval_days_to``)."""
        shortest = self.window_days if self.window_days is not None else self.min_interval_days
        return f"{number(Fraction(shortest, 7))}–{number(Fraction(self.advised_interval_days_to, 7))} weeks"


@dataclass(frozen=True)
class SharedThresholds:
    """Thresholds the same under every profile (``every_profile`` in ``profiles.json``, with their sources)."""

    abrupt_reduction_percent: Fraction
    """A reduction of this much of the total or more in one step is abrupt for a dependent patient."""
    final_step_max_de: Fraction
    final_step_prior_reductions: int
    """A stop from at most ``final_step_max_de`` mg diazepam-equivalent after this many reductions is a final step."""
    table_disagreement_points: Fraction
    """Reductions under the two tables further apart than this make a switch's size uncertain."""
    older_adult_age: int
    taper_context_days: int
    """A reduction within this many days puts the patient in a taper."""
    long_term_days: int
    long_term_coverage: Fraction
    """Long-term use: the episode began ``long_term_days`` or more before, covered on this share of them."""
    dependence_any_dose_days: int
    dependence_de_days: int
    dependence_de_mg: Fraction
    """Likely dependent: ``dependence_any_dose_days`` at any dose, or ``dependence_de_days`` above this many mg DE."""
    as_needed_lookback_days: tuple[int, ...]
    as_needed_min_days: int
    as_needed_dependent_days_per_week: int
    failed_taper_return_days: int
    failed_taper_return_level: Fraction
    episode_gap_days: int
    new_drug_days: int


def _fraction(value: Any) -> Fraction | None:
    return Fraction(value) if value is not None else None


@cache
def _thresholds() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PROFILES_FILE.read_text(encoding="utf-8"))
    return data


PROFILE_CODES: tuple[str, ...] = tuple(_thresholds()["profiles"])
"""The profiles a deployment may choose (``CDS_TAPER_PROFILE``) and the taper-plan page offers."""


@cache
def shared_thresholds() -> SharedThresholds:
    spec = _thresholds()["every_profile"]
    return SharedThresholds(
        abrupt_reduction_percent=Fraction(spec["abrupt_reduction_percent"]),
        final_step_max_de=Fraction(spec["final_step_max_de_mg"]),
        final_step_prior_reductions=spec["final_step_prior_reductions"],
        table_disagreement_points=Fraction(spec["table_disagreement_points"]),
        older_adult_age=spec["older_adult_age"],
        taper_context_days=spec["taper_context_days"],
        long_term_days=spec["long_term_days"],
        long_term_coverage=Fraction(spec["long_term_coverage"]),
        dependence_any_dose_days=spec["dependence_any_dose_days"],
        dependence_de_days=spec["dependence_de_days"],
        dependence_de_mg=Fraction(spec["dependence_de_mg"]),
        as_needed_lookback_days=tuple(spec["as_needed_lookback_days"]),
        as_needed_min_days=spec["as_needed_min_days"],
        as_needed_dependent_days_per_week=spec["as_needed_dependent_days_per_week"],
        failed_taper_return_days=spec["failed_taper_return_days"],
        failed_taper_return_level=Fraction(spec["failed_taper_return_level"]),
        episode_gap_days=spec["episode_gap_days"],
        new_drug_days=spec["new_drug_days"],
    )


OLDER_ADULT_AGE = shared_thresholds().older_adult_age
"""Joint Guideline rec. 27 and Beers 2023 apply from age 65 (docs/clinical-reference.md §6b "Older adult")."""


def clear_cache() -> None:
    """Read ``PROFILES_FILE`` again on next use (a test that changes a threshold in a copy of the data)."""
    _thresholds.cache_clear()
    shared_thresholds.cache_clear()
    taper_profile.cache_clear()


@cache
def taper_profile(code: str) -> TaperProfile:
    spec = _thresholds()["profiles"][code]
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
        advised_step_percent_from=Fraction(spec["advised_step_percent_from"]),
        advised_interval_days_to=spec["advised_interval_days_to"],
    )

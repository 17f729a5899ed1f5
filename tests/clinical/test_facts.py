"""The facts of one evaluation are freed when the evaluation ends.

A long history is thousands of courses and dose steps; if the facts held themselves (a reference cycle), all of
it would stay in memory until the garbage collector's next full collection, and every collection in between would
walk it again. Each scenario is evaluated with the collector switched off, so that only reference counting can free
the facts."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from cds_service.clinical.engine import evaluate_rules
from tests.utils import scenarios
from tests.utils.scenarios import NAMES as SCENARIOS

NOW = datetime(2026, 3, 16, 12, tzinfo=UTC)


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("collector_off")
@pytest.mark.parametrize("name", SCENARIOS)
def test_an_evaluations_facts_are_freed_without_the_garbage_collector(name: str) -> None:
    facts = scenarios.scenario_facts(name, lambda: NOW)
    evaluate_rules(facts)
    phases = [weakref.ref(phase) for phase in facts.phases]
    history = weakref.ref(facts.history)
    del facts

    assert [phase() for phase in phases] == [None] * len(phases)
    assert history() is None


def test_a_multi_phase_draft_is_judged_in_several_phases() -> None:
    """The scenario the test above needs to cover later phases (facts as of each phase's start) has them."""
    facts = scenarios.scenario_facts("multi-phase-later-phases-too-fast", lambda: NOW)

    assert len(facts.phases) > 1
    assert facts.phases[0] is facts

"""The plan sweep (``make plans``) on a representative subset: a tablet drug with a liquid (lorazepam), a
capsule-only drug (oxazepam) and a drug with orally disintegrating tablets (clonazepam), native and switch."""

from __future__ import annotations

from benchmarks.plan_sweep import sweep


def test_no_plan_breaks_the_pace_where_a_givable_step_exists_or_stops_from_above_the_final_dose() -> None:
    native, switched, recommended = sweep(("lorazepam", "oxazepam", "clonazepam"))
    assert (native.plans, switched.plans) == (96, 96)
    assert native.beyond_pace_with_givable_step == 0 and native.above_final == 0
    assert switched.beyond_pace == 0 and switched.above_final == 0
    # every remaining exception says why, in words
    assert all(reason.startswith("no marketed ") for reasons in native.exceptions.values() for reason in reasons)
    assert native.beyond_pace > 0 and recommended == native.beyond_pace

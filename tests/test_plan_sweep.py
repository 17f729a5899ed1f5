"""The plan sweep (``make plans``) on a representative subset: a tablet drug with a liquid (lorazepam), a
capsule-only drug (oxazepam) and a drug with orally disintegrating tablets (clonazepam), native and switch."""

from __future__ import annotations

from benchmarks.plan_sweep import sweep


def test_no_plan_breaks_the_pace_where_a_givable_step_exists_or_stops_from_above_the_final_dose() -> None:
    native, switched, recommended = sweep(("lorazepam", "oxazepam", "clonazepam"))
    assert (native.plans, switched.plans) == (96, 96)
    assert native.beyond_pace_with_givable_step == 0 and native.above_final == 0
    assert switched.beyond_pace == 0 and switched.above_final == 0
    # one change of product at most, never back to a product left (before: flip-backs and three products)
    assert (native.flip_backs, native.over_two_products) == (0, 0)
    assert (switched.flip_backs, switched.over_two_products) == (0, 0)
    assert set(native.changes) <= {0, 1} and set(switched.changes) <= {0, 1}
    # no step below half the pace where the same product could make a larger one within it
    assert native.small_with_larger_step == 0 and switched.small_with_larger_step == 0
    # every remaining exception says why, in words: no form can, or a form the plan has left could
    assert all(reason.startswith("no marketed ") or "never back to a product it left" in reason
               for reasons in native.exceptions.values() for reason in reasons)
    assert native.beyond_pace_for_one_change > 0
    assert native.beyond_pace > 0 and recommended == native.beyond_pace

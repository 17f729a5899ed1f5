"""Supply follows the dose (docs/clinical-reference.md §9b): the days a draft's supply covers and what a
suggested regimen dispenses in them."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace
from typing import Any, cast

from cds_service.clinical.dosing import DailyDose
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.order_update import Supply, draft_supply_days, supply_for
from cds_service.clinical.taper_plan import PlannedDose
from cds_service.clinical.terminology import RXNORM, SimpleCoding, load_terminology

DIAZEPAM_2_MG = load_terminology().product([SimpleCoding(RXNORM, "197590")])
assert DIAZEPAM_2_MG is not None


def _draft(mg_a_day: int) -> MedicationCourse:
    return cast(MedicationCourse, SimpleNamespace(product=DIAZEPAM_2_MG, dose=DailyDose(Fraction(mg_a_day), False, "")))


def _order(dispense: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "dispenseRequest": dispense}


def test_the_days_are_the_drafts_duration_else_the_whole_days_its_quantity_lasts() -> None:
    assert draft_supply_days(_order({"expectedSupplyDuration": {"value": 2, "unit": "wk"}}), _draft(6)) == 14
    assert draft_supply_days(_order({"quantity": {"value": 60}}), _draft(4)) == 30   # 2 tablets a day
    assert draft_supply_days(_order({"quantity": {"value": 40}}), _draft(6)) == 13   # 3 a day: 13⅓ days
    assert draft_supply_days(_order({}), _draft(6)) is None


def test_half_tablets_are_dispensed_as_whole_tablets() -> None:
    """4½ tablets a day for 30 days are 135 tablets; 1½ a day for 7 days are 10½, so 11 tablets."""
    order = _order({"quantity": {"value": 90}, "expectedSupplyDuration": {"value": 30, "unit": "days"}})
    nine_mg = PlannedDose.even(DIAZEPAM_2_MG, 3, Fraction(3, 2))
    assert supply_for(order, _draft(6), nine_mg, as_needed=False) == Supply(Fraction(135), "tablet", Fraction(30),
                                                                             True)
    three_mg = PlannedDose.even(DIAZEPAM_2_MG, 1, Fraction(3, 2))
    week = supply_for(order, _draft(6), three_mg, as_needed=False, days=Fraction(7))
    assert week is not None and week.text == "11 tablets for 7 days, no refills"


def test_an_as_needed_supply_keeps_the_share_of_its_maximum_the_draft_dispensed() -> None:
    """A draft of at most 4 mg a day with 15 tablets for 30 days (a quarter of its maximum's 60 tablets): at most
    3 mg a day dispenses a quarter of 45 tablets, 12 (11¼ rounded up)."""
    order = _order({"quantity": {"value": 15}, "expectedSupplyDuration": {"value": 30, "unit": "days"}})
    three_mg = PlannedDose.even(DIAZEPAM_2_MG, 1, Fraction(3, 2))
    supply = supply_for(order, _draft(4), three_mg, as_needed=True)
    assert supply is not None and supply.quantity == 12

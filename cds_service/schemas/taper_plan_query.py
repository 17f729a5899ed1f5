"""Query parameters of ``GET /taper-plan``: the situation, never the patient (no identifiers in URLs)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from cds_service.clinical.dose_forms import load_dose_forms
from cds_service.clinical.profiles import PROFILE_CODES

PLANNABLE = load_dose_forms().ingredients
"""Every drug with marketed oral forms in the dose-form table."""


class TaperPlanQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    drug = fields.String(load_default="diazepam", validate=validate.OneOf(PLANNABLE))
    dose = fields.Decimal(required=True, places=None, allow_nan=False,
                          # Decimal bounds: Decimal("0.1") is less than the float 0.1, so a float bound refuses it
                          validate=validate.Range(min=Decimal("0.1"), max=Decimal("200")),
                          metadata={"description": "mg per day"})
    profile = fields.String(load_default="summary", validate=validate.OneOf(PROFILE_CODES))
    long_term = fields.Boolean(load_default=False, truthy={"yes", "1", "true"}, falsy={"no", "0", "false"})
    age = fields.String(load_default="unknown", validate=validate.OneOf(["under-65", "65-plus", "unknown"]))
    doses_per_day = fields.Integer(load_default=2, validate=validate.Range(min=1, max=4))
    product = fields.String(load_default=None, metadata={
        "description": "RxNorm code of the product in use (a marketed form of the drug): the plan starts with it "
                       "when it can make the first step within the pace, as the card's one-click step does"})
    view = fields.String(load_default="plans", validate=validate.OneOf(["plans", "handout"]))

    @validates_schema
    def _product_of_the_drug(self, data: dict[str, Any], **_: Any) -> None:
        code = data.get("product")
        if code is not None and code not in {form.code for form in load_dose_forms().forms(data.get("drug", ""))}:
            raise ValidationError("not a marketed oral form of the drug in the dose-form table", "product")
    plan = fields.String(load_default="native", validate=validate.OneOf(["native", "switch"]))


def load_query(args: Any) -> dict[str, Any]:
    data: dict[str, Any] = TaperPlanQuery().load(dict(args))
    return data

"""``GET /taper-plan`` — a proposed tablet-rounded taper schedule as a printable, accessible page.

The URL describes the situation only (drug, daily dose, profile, long-term use, age band), never the
patient; cards link here with those parameters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from flask import Blueprint, current_app, render_template, request
from marshmallow import ValidationError

from cds_service.clinical.dosing import diazepam_equivalent_mg
from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.rules.taper_support import SYMPTOMS
from cds_service.clinical.taper_plan import TaperPlan, taper_plan
from cds_service.clinical.terminology import load_terminology
from cds_service.clinical.wording import number
from cds_service.schemas.taper_plan_query import load_query

bp = Blueprint("pages", __name__)


@bp.app_template_filter("number")
def _number_filter(value: Fraction | int | float, places: int | None = None) -> str:
    """Numbers on the page take the cards' one formatting path (``1400``, ``12.5``, ``0.125``)."""
    return number(value, places)

CHART_WIDTH, CHART_HEIGHT, MARGIN = 640, 260, 48


@bp.get("/taper-plan")
def taper_plan_page() -> tuple[str, int]:
    try:
        query = load_query(request.args)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"query": exc.messages}
        problems = {field: "; ".join(map(str, msgs)) if isinstance(msgs, list) else str(msgs)
                    for field, msgs in messages.items()}
        return render_template("taper_plan_error.html", problems=problems), 400
    terminology = load_terminology()
    profile = taper_profile(query["profile"])
    table = current_app.config["SETTINGS"].equivalence_table
    equivalent = terminology.equivalent_oral_dose_mg(query["drug"], table) or Fraction(10)
    plan = taper_plan(Fraction(str(query["dose"])), datetime.now(UTC).date(), profile, terminology,
                      ingredient=query["drug"], doses_per_day=query["doses_per_day"], long_term=query["long_term"],
                      older_adult=query["age"] == "65-plus", equivalent_mg=equivalent)
    return render_template(
        "taper_plan.html", query=query, plan=plan, profile=profile, symptoms=SYMPTOMS, table=table,
        chart=_chart(plan, Fraction(str(query["dose"])), equivalent),
        rows=_rows(plan, Fraction(str(query["dose"])), equivalent),
    ), 200


def _de(mg: Fraction, equivalent: Fraction) -> Fraction:
    return diazepam_equivalent_mg(mg, equivalent)


def _rows(plan: TaperPlan, start_mg: Fraction, equivalent: Fraction) -> list[dict[str, Any]]:
    rows = [{"day": 0, "daily_mg": number(start_mg), "de": number(_de(start_mg, equivalent)),
             "instruction": "current dose", "reduction": "—"}]
    for step in plan.steps:
        mg = step.dose.daily_mg if step.dose else Fraction(0)
        rows.append({"day": step.day, "daily_mg": number(mg), "de": number(_de(mg, equivalent)),
                     "instruction": step.dose.instruction if step.dose else "stop",
                     "reduction": f"{number(step.reduction_percent, 1)} %", "exceeds_pace": step.exceeds_pace})
    return rows


def _chart(plan: TaperPlan, start_mg: Fraction, equivalent: Fraction) -> dict[str, Any]:
    """A server-rendered step chart of daily diazepam-equivalent over time (no script, no CDN)."""
    last_day = plan.steps[-1].day if plan.steps else 1
    top = _de(start_mg, equivalent) or Fraction(1)
    inner_w, inner_h = CHART_WIDTH - 2 * MARGIN, CHART_HEIGHT - 2 * MARGIN

    def x(day: int) -> float:
        return round(MARGIN + inner_w * day / max(last_day, 1), 1)

    def y(de: Fraction) -> float:
        return round(CHART_HEIGHT - MARGIN - inner_h * float(de / top), 1)

    points = [(x(0), y(top))]
    steps = []
    level = top
    for step in plan.steps:
        new = _de(step.dose.daily_mg, equivalent) if step.dose else Fraction(0)
        points += [(x(step.day), y(level)), (x(step.day), y(new))]
        steps.append({"x": x(step.day), "y": y(new), "label": f"Day {step.day}: {number(new)} mg DE"})
        level = new
    points.append((x(last_day) + 8, y(level)))
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "margin": MARGIN,
            "path": " ".join(f"{px},{py}" for px, py in points), "steps": steps,
            "y_top": number(top), "x_last": last_day, "baseline": CHART_HEIGHT - MARGIN}

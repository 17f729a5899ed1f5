"""``GET /taper-plan`` — the native and diazepam-switch taper schedules, one after the other, and a patient handout.

The URL describes the situation only (drug, daily dose, doses a day, profile, long-term use, age band), never
the patient; cards link here with those parameters. ``view=handout`` gives the plain-language handout of one
plan (``plan=native`` or ``plan=switch``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, render_template, request
from marshmallow import ValidationError

from cds_service.api.taper_views import (
    PLAIN_SYMPTOMS,
    handout_lines,
    plan_rows,
    step_de,
    supplies,
)
from cds_service.clinical.equivalence import TABLE_NAMES, TABLES, diazepam_equivalent, table_with_factor
from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.rules.taper_support import SYMPTOMS
from cds_service.clinical.taper_plan import TaperPlan, diazepam_switch_plan, switch_recommended, taper_plan
from cds_service.clinical.terminology import RXNORM, SimpleCoding, Terminology, load_terminology
from cds_service.clinical.wording import mg, number
from cds_service.schemas.taper_plan_query import load_query

bp = Blueprint("pages", __name__)


@bp.app_template_filter("number")
def _number_filter(value: Fraction | int | float, places: int | None = None) -> str:
    """Numbers on the page take the cards' one formatting path (``1400``, ``12.5``, ``0.125``)."""
    return number(value, places)


CHART_WIDTH, CHART_HEIGHT, MARGIN = 640, 200, 40


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
    drug = query["drug"]
    configured: EquivalenceTable = current_app.config["SETTINGS"].equivalence_table
    # the configured table unless it has no factor for the drug (docs/clinical-reference.md §8c), as on the cards
    table = table_with_factor(terminology, (drug,), configured)
    dose = Fraction(str(query["dose"]))
    today = datetime.now(UTC).date()
    older = query["age"] == "65-plus"
    product = terminology.product([SimpleCoding(RXNORM, query["product"])]) if query["product"] else None
    options = {"ingredient": drug, "doses_per_day": query["doses_per_day"], "long_term": query["long_term"],
               "older_adult": older, "table": table, "product": product}
    native = taper_plan(dose, today, profile, terminology, **options)
    switch = diazepam_switch_plan(dose, today, profile, terminology, **options)
    if query["view"] == "handout":
        plan = switch if query["plan"] == "switch" and switch is not None else native
        return render_template("taper_handout.html", query=query, plan=plan, drug=drug, symptoms=PLAIN_SYMPTOMS,
                               lines=handout_lines(plan, dose, drug), supplies=supplies(plan)), 200
    plans = [_plan_view("native", f"Taper {drug}", native, dose, drug, terminology, table)]
    if switch is not None:
        plans.append(_plan_view("switch", "Switch to diazepam, then taper", switch, dose, drug, terminology, table))
    situation = {key: value for key, value in request.args.items() if key not in ("view", "plan")}
    for item in plans:
        item["handout"] = "?" + urlencode({**situation, "view": "handout", "plan": item["id"]})
    table_note = None
    if table != configured:
        table_note = (f"The {TABLE_NAMES[configured]} table has no factor for {drug}: the schedule and chart use the "
                      f"{TABLE_NAMES[table]} table.")
    return render_template(
        "taper_plan.html", query=query, plans=plans, profile=profile, symptoms=SYMPTOMS, table=table,
        table_name=TABLE_NAMES[table], table_note=table_note, dose_text=mg(dose),
        # never recommended at 65 or older: the Beers criteria advise avoiding benzodiazepines, long-acting above all
        recommended=switch_recommended(native, switch) and not older, beers=older and switch is not None,
        equivalents=[(TABLE_NAMES[t], f"{mg(e)} {drug}" if (e := terminology.equivalent_oral_dose_mg(drug, t))
                      else f"no factor for {drug}") for t in TABLES],
    ), 200


def _plan_view(plan_id: str, title: str, plan: TaperPlan, dose: Fraction, drug: str, terminology: Terminology,
               table: EquivalenceTable) -> dict[str, Any]:
    rows, notes = plan_rows(plan, dose, drug, terminology)
    return {"id": plan_id, "title": title, "plan": plan, "rows": rows, "notes": notes,
            "chart": _chart(plan, dose, drug, terminology, table)}


def _chart(plan: TaperPlan, start_mg: Fraction, native: str, terminology: Terminology, table: EquivalenceTable
           ) -> dict[str, Any]:
    """A server-rendered step chart of daily diazepam-equivalent over time (no script, no CDN), in the table the
    schedule uses (it has a factor for every drug of the plan)."""
    steps_all = (*plan.switch_stages, *plan.steps)
    last_day = max((step.day for step in steps_all), default=1)
    start = diazepam_equivalent(terminology, [(native, start_mg)], table).mg or Fraction(0)
    levels = [step_de(step, terminology, table).mg or Fraction(0) for step in steps_all]
    top = max([start, *levels]) or Fraction(1)
    inner_w, inner_h = CHART_WIDTH - 2 * MARGIN, CHART_HEIGHT - 2 * MARGIN

    def x(day: int) -> float:
        return round(MARGIN + inner_w * day / max(last_day, 1), 1)

    def y(de: Fraction) -> float:
        return round(CHART_HEIGHT - MARGIN - inner_h * float(de / top), 1)

    level = start
    points = [(x(0), y(level))]
    marks = []
    for step, new in zip(steps_all, levels, strict=True):
        points += [(x(step.day), y(level)), (x(step.day), y(new))]
        marks.append({"x": x(step.day), "y": y(new), "label": f"Day {step.day}: {number(new)} mg DE"})
        level = new
    points.append((x(last_day) + 8, y(level)))
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "margin": MARGIN,
            "path": " ".join(f"{px},{py}" for px, py in points), "steps": marks,
            "y_top": number(top), "x_last": last_day, "baseline": CHART_HEIGHT - MARGIN}

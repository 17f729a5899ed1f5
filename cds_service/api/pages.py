"""``GET /taper-plan`` — the native and diazepam-switch taper schedules side by side, and a patient handout.

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

from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.rules.taper_support import SYMPTOMS
from cds_service.clinical.taper_plan import (
    TABLE_NAMES,
    TABLES,
    TaperPlan,
    TaperPlanStep,
    diazepam_switch_plan,
    switch_recommended,
    taper_plan,
)
from cds_service.clinical.terminology import Terminology, load_terminology
from cds_service.clinical.wording import mg, number
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
    dose = Fraction(str(query["dose"]))
    today = datetime.now(UTC).date()
    options = {"ingredient": query["drug"], "doses_per_day": query["doses_per_day"], "long_term": query["long_term"],
               "older_adult": query["age"] == "65-plus", "table": table}
    native = taper_plan(dose, today, profile, terminology, **options)
    switch = diazepam_switch_plan(dose, today, profile, terminology, **options)
    if query["view"] == "handout":
        plan = switch if query["plan"] == "switch" and switch is not None else native
        return render_template("taper_handout.html", query=query, plan=plan, symptoms=SYMPTOMS,
                               rows=_handout_rows(plan)), 200
    plans = [{"id": "native", "title": f"Taper {query['drug']}", "plan": native,
              "rows": _rows(native, dose, query["drug"], terminology),
              "chart": _chart(native, dose, query["drug"], terminology, table)}]
    if switch is not None:
        plans.append({"id": "switch", "title": "Switch to diazepam, then taper", "plan": switch,
                      "rows": _rows(switch, dose, query["drug"], terminology),
                      "chart": _chart(switch, dose, query["drug"], terminology, table)})
    situation = {key: value for key, value in request.args.items() if key not in ("view", "plan")}
    for item in plans:
        item["handout"] = "?" + urlencode({**situation, "view": "handout", "plan": item["id"]})
    return render_template(
        "taper_plan.html", query=query, plans=plans, profile=profile, symptoms=SYMPTOMS, table=table,
        table_name=TABLE_NAMES[table], recommended=switch_recommended(native, switch),
        equivalents={TABLE_NAMES[t]: terminology.equivalent_oral_dose_mg(query["drug"], t) for t in TABLES},
        fmt=_fmt,
    ), 200


def _de(daily_mg: Fraction, ingredient: str, terminology: Terminology, table: str) -> str:
    equivalent = terminology.equivalent_oral_dose_mg(ingredient, table)  # type: ignore[arg-type]
    return _fmt(daily_mg * 10 / equivalent) if equivalent else "—"


def _row(step: TaperPlanStep, terminology: Terminology) -> dict[str, Any]:
    """A table row: the amount of each administration (both products at a switch stage), and the
    diazepam-equivalent under both tables."""
    doses = [dose for dose in (step.dose, step.extra) if dose is not None]
    de = []
    for table in TABLES:
        parts = [(dose.daily_mg, terminology.equivalent_oral_dose_mg(dose.product.ingredient, table))
                 for dose in doses]
        de.append("—" if any(e is None for _, e in parts) else
                  _fmt(sum((daily * 10 / e for daily, e in parts if e), Fraction(0))))
    daily = " + ".join(f"{_fmt(dose.daily_mg)} mg {dose.product.ingredient}" for dose in doses) \
        if len(doses) > 1 else _fmt(step.daily_mg)
    return {"day": step.day, "date": step.start.isoformat(), "daily_mg": daily, "de": de,
            "doses": [f"{when}: {amount}" + (f" of {dose.product.display}" if len(doses) > 1 else "")
                      for dose in doses for when, amount in dose.per_administration] or ["stop"],
            "product": doses[0].product.display if len(doses) == 1 else "",
            "reduction": f"{_fmt(step.reduction_percent, 1)} %", "reason": step.reason,
            "exceeds_pace": step.exceeds_pace}


def _rows(plan: TaperPlan, start_mg: Fraction, native: str, terminology: Terminology) -> list[dict[str, Any]]:
    rows = [{"day": 0, "date": plan.start.isoformat(), "daily_mg": _fmt(start_mg),
             "de": [_de(start_mg, native, terminology, t) for t in TABLES], "doses": ["current dose"],
             "product": "", "reduction": "—", "reason": None, "exceeds_pace": False}]
    rows += [_row(step, terminology) for step in (*plan.switch_stages, *plan.steps)]
    return rows


def _handout_rows(plan: TaperPlan) -> list[dict[str, Any]]:
    """What to take each day, from each step's start date, in plain words."""
    rows = []
    for step in (*plan.switch_stages, *plan.steps):
        if step.dose is None:
            rows.append({"from": step.start.isoformat(), "take": ["Stop: take no more tablets or liquid."],
                         "total": "none"})
            continue
        take = [f"{when}: {amount} of {dose.product.display}" for dose in (step.dose, step.extra)
                if dose is not None for when, amount in dose.per_administration]
        total = " + ".join(mg(dose.daily_mg) for dose in (step.dose, step.extra) if dose is not None)
        rows.append({"from": step.start.isoformat(), "take": take, "total": total})
    return rows


def _chart(plan: TaperPlan, start_mg: Fraction, native: str, terminology: Terminology, table: str
           ) -> dict[str, Any]:
    """A server-rendered step chart of daily diazepam-equivalent over time (no script, no CDN)."""
    steps_all = (*plan.switch_stages, *plan.steps)
    last_day = max((step.day for step in steps_all), default=1)

    def de_of(step: TaperPlanStep) -> Fraction:
        total = Fraction(0)
        for dose in (step.dose, step.extra):
            if dose is not None:
                equivalent = terminology.equivalent_oral_dose_mg(dose.product.ingredient, table)  # type: ignore[arg-type]
                total += dose.daily_mg * 10 / equivalent if equivalent else 0
        return total

    native_equivalent = terminology.equivalent_oral_dose_mg(native, table) or Fraction(10)  # type: ignore[arg-type]
    top = start_mg * 10 / native_equivalent or Fraction(1)
    top = max([top, *(de_of(step) for step in steps_all)])
    inner_w, inner_h = CHART_WIDTH - 2 * MARGIN, CHART_HEIGHT - 2 * MARGIN

    def x(day: int) -> float:
        return round(MARGIN + inner_w * day / max(last_day, 1), 1)

    def y(de: Fraction) -> float:
        return round(CHART_HEIGHT - MARGIN - inner_h * float(de / top), 1)

    level = start_mg * 10 / native_equivalent
    points = [(x(0), y(level))]
    marks = []
    for step in steps_all:
        new = de_of(step)
        points += [(x(step.day), y(level)), (x(step.day), y(new))]
        marks.append({"x": x(step.day), "y": y(new), "label": f"Day {step.day}: {_fmt(new)} mg DE"})
        level = new
    points.append((x(last_day) + 8, y(level)))
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "margin": MARGIN,
            "path": " ".join(f"{px},{py}" for px, py in points), "steps": marks,
            "y_top": _fmt(top), "x_last": last_day, "baseline": CHART_HEIGHT - MARGIN}


def _fmt(value: Fraction, places: int | None = None) -> str:
    return number(value, places)

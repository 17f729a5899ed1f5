"""Card outcomes per card type: shown, shadow (computed in shadow mode, not shown: what would have fired),
accepted, overridden, acceptance rate, top override reasons and a weekly trend of the cards shown — from the card
log joined to feedback."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, func, literal, select

from cds_service.db import reading
from cds_service.feedback.models import card_log, feedback

WEEKS = 8


def card_outcomes(engine: Engine, client: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The outcomes of the cards shown to ``client`` (a JWT issuer); every client's when ``None`` (the
    operator's view). Counted by the database: a few rows per card type reach Python, whatever the size of
    the card log (300,000 cards read one by one took 0.9 s of CPU)."""
    now = now or datetime.now(UTC)
    mine = [] if client is None else [card_log.c.client == client]
    labels = _weeks(now)
    starts = [_week_start(now - timedelta(weeks=n)) for n in reversed(range(WEEKS))]
    bounds = [*starts, starts[-1] + timedelta(weeks=1)]
    stats: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "shown": 0, "shadow": 0, "accepted": 0, "overridden": 0, "override_reasons": Counter(), "weekly": Counter()})
    created = card_log.c.created_at
    week = case(*[(and_(created >= bounds[n], created < bounds[n + 1]), literal(labels[n])) for n in range(WEEKS)])
    # Shadow-mode cards were computed, never shown: counted apart, not in the weekly trend.
    recent = select(card_log.c.card_type, week.label("week")) \
        .where(*mine, card_log.c.shadow.is_(False), created >= bounds[0], created < bounds[-1]).subquery()
    # The latest outcome per card counts (a card can be overridden, then accepted on re-sign); of two at the
    # same time, the one received last.
    later = feedback.alias("later")
    latest = select(later.c.id).where(later.c.card_uuid == feedback.c.card_uuid) \
        .order_by(later.c.outcome_timestamp.desc(), later.c.id.desc()).limit(1).scalar_subquery()
    outcomes = select(card_log.c.card_type, feedback.c.outcome, feedback.c.override_code, func.count()) \
        .join_from(card_log, feedback, feedback.c.card_uuid == card_log.c.card_uuid) \
        .where(*mine, feedback.c.id == latest) \
        .group_by(card_log.c.card_type, feedback.c.outcome, feedback.c.override_code)
    with reading(engine) as connection:
        for card_type, shadow, count in connection.execute(
                select(card_log.c.card_type, card_log.c.shadow, func.count()).where(*mine)
                .group_by(card_log.c.card_type, card_log.c.shadow)):
            stats[card_type]["shadow" if shadow else "shown"] += count
        for card_type, label, shown in connection.execute(
                select(recent.c.card_type, recent.c.week, func.count()).group_by(recent.c.card_type, recent.c.week)):
            stats[card_type]["weekly"][label] = shown
        for card_type, outcome, reason, count in connection.execute(outcomes):
            entry = stats[card_type]
            entry[outcome] += count
            if outcome == "overridden":
                entry["override_reasons"][reason or "no reason given"] += count
    report = {}
    for card_type, entry in sorted(stats.items()):
        answered = entry["accepted"] + entry["overridden"]
        report[card_type] = {
            "shown": entry["shown"],
            "shadow": entry["shadow"],
            "accepted": entry["accepted"],
            "overridden": entry["overridden"],
            "acceptance_rate": round(entry["accepted"] / answered, 3) if answered else None,
            "top_override_reasons": [{"reason": r, "count": n} for r, n in entry["override_reasons"].most_common(3)],
            "weekly_shown": [{"week": w, "shown": entry["weekly"][w]} for w in labels],
        }
    return {"generated_at": now.isoformat(), "card_types": report}


def _week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week of ``moment``."""
    day = moment.astimezone(UTC) - timedelta(days=moment.astimezone(UTC).weekday())
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def _week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks(now: datetime) -> list[str]:
    return [_week(now - timedelta(weeks=n)) for n in reversed(range(WEEKS))]


def as_table(report: dict[str, Any]) -> str:
    """The report as a fixed-width table for the terminal."""
    header = (f"{'card type':28} {'shown':>6} {'shadow':>7} {'accepted':>9} {'overridden':>11} {'accept %':>9}  "
              "top override reasons")
    lines = [header, "-" * len(header)]
    for card_type, row in report["card_types"].items():
        rate = "—" if row["acceptance_rate"] is None else f"{row['acceptance_rate'] * 100:.1f}"
        reasons = ", ".join(f"{r['reason']} ({r['count']})" for r in row["top_override_reasons"]) or "—"
        lines.append(f"{card_type:28} {row['shown']:>6} {row['shadow']:>7} {row['accepted']:>9} "
                     f"{row['overridden']:>11} {rate:>9}  {reasons}")
    if len(lines) == 2:
        lines.append("(no cards logged yet)")
    return "\n".join(lines)

"""Card outcomes per card type: shown, shadow (computed in shadow mode, not shown: what would have fired),
accepted, overridden, acceptance rate, top override reasons and a weekly trend of the cards shown — from the card
log joined to feedback."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from cds_service.db import reading
from cds_service.feedback.models import card_log, feedback

WEEKS = 8


def card_outcomes(engine: Engine, client: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The outcomes of the cards shown to ``client`` (a JWT issuer); every client's when ``None`` (the
    operator's view)."""
    now = now or datetime.now(UTC)
    mine = [] if client is None else [card_log.c.client == client]
    since = now - timedelta(weeks=WEEKS)
    stats: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "shown": 0, "shadow": 0, "accepted": 0, "overridden": 0, "override_reasons": Counter(), "weekly": Counter()})
    with reading(engine) as connection:
        for card_type, created, shadow in connection.execute(
                select(card_log.c.card_type, card_log.c.created_at, card_log.c.shadow).where(*mine)):
            entry = stats[card_type]
            if shadow:  # computed in shadow mode, never shown: what would have fired
                entry["shadow"] += 1
                continue
            entry["shown"] += 1
            created = created if created.tzinfo else created.replace(tzinfo=UTC)
            if created >= since:
                entry["weekly"][_week(created)] += 1
        # The latest outcome per card counts (a card can be overridden, then accepted on re-sign).
        latest: dict[str, tuple[datetime, str, str, str | None]] = {}
        query = select(card_log.c.card_uuid, card_log.c.card_type, feedback.c.outcome, feedback.c.override_code,
                       feedback.c.outcome_timestamp).join(feedback, feedback.c.card_uuid == card_log.c.card_uuid) \
            .where(*mine)
        for card_uuid, card_type, outcome, reason, when in connection.execute(query):
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            if card_uuid not in latest or when >= latest[card_uuid][0]:
                latest[card_uuid] = (when, card_type, outcome, reason)
    for _, card_type, outcome, reason in latest.values():
        entry = stats[card_type]
        entry[outcome] += 1
        if outcome == "overridden":
            entry["override_reasons"][reason or "no reason given"] += 1
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
            "weekly_shown": [{"week": w, "shown": entry["weekly"][w]} for w in _weeks(now)],
        }
    return {"generated_at": now.isoformat(), "card_types": report}


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

"""``bzd-taper-cds`` command line: ``report`` (card outcomes) — more subcommands come with their issues."""

from __future__ import annotations

import argparse
import json
import sys

from cds_service.config import Settings
from cds_service.db import engine_for, migrate
from cds_service.feedback.analytics import as_table, card_outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bzd-taper-cds", description="Benzodiazepine taper CDS service tools")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="card outcomes per card type (DATABASE_URL or the default SQLite)")
    report.add_argument("--json", action="store_true", help="print the JSON report instead of a table")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "report":
        migrate(settings.database_url)
        outcomes = card_outcomes(engine_for(settings.database_url))
        sys.stdout.write((json.dumps(outcomes, indent=2) if args.json else as_table(outcomes)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

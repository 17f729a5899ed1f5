"""``bzd-taper-cds`` command line: ``evaluate`` a hook request (offline unless ``--fetch``); ``report`` card
outcomes; ``snoozes`` lists or clears snoozes; ``--version``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.engine import make_url

from cds_service.clinical.cards import CARD_TYPES
from cds_service.clinical.engine import EngineResult, select_cards
from cds_service.clinical.explain import explain as explain_evaluation
from cds_service.clinical.facts import ClinicalFacts
from cds_service.config import Settings, SettingsError
from cds_service.db import LONG_OPERATION_S, engine_for, migrate, operation_budget
from cds_service.errors import PreconditionFailed
from cds_service.evaluate import evaluate_hook_call
from cds_service.feedback.analytics import as_table, card_outcomes
from cds_service.feedback.repository import patient_hash
from cds_service.feedback.snoozes import active_snoozes, clear_snoozes
from cds_service.schemas import flatten_messages
from cds_service.schemas.hook_request import load_hook_request
from cds_service.services import SERVICES
from cds_service.version import knowledge_version, package_version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bzd-taper-cds", description="Benzodiazepine taper CDS service tools")
    parser.add_argument("--version", action="version",
                        version=f"bzd-taper-cds {package_version()} (knowledge {knowledge_version()})")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="card outcomes per card type (DATABASE_URL or the default SQLite)")
    report.add_argument("--json", action="store_true", help="print the JSON report instead of a table")
    evaluate = commands.add_parser("evaluate", help="evaluate a CDS Hooks request and print the cards; offline: "
                                   "only what the request carries (its prefetch) is read")
    evaluate.add_argument("request", type=Path, help="a hook request (JSON), normally with its prefetch")
    evaluate.add_argument("--json", action="store_true", help="print the exact response body")
    evaluate.add_argument("--fetch", action="store_true",
                          help="allow reading what the prefetch lacks from the request's fhirServer")
    evaluate.add_argument("--explain", action="store_true",
                          help="also print the facts used and why each rule fired or stayed silent")
    snoozes = commands.add_parser("snoozes", help="list active snoozes, or clear them (--clear) for a patient")
    snoozes.add_argument("--patient", help="the patient id the EHR sends (context.patientId)")
    snoozes.add_argument("--fhir-server", default="", help="the fhirServer the EHR's calls name, if any")
    snoozes.add_argument("--patient-hash", help="the patient as a listing shows it (instead of --patient)")
    snoozes.add_argument("--client", help="the EHR (JWT issuer) whose snoozes; '' for calls without a token; "
                         "listing: every client when not given")
    snoozes.add_argument("--card-type", choices=sorted(CARD_TYPES), help="only this card type")
    snoozes.add_argument("--clear", action="store_true", help="clear the matching snoozes (--patient or "
                         "--patient-hash, and --client, are required)")
    snoozes.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:  # one line a person can act on, not a traceback
        sys.stderr.write(f"bzd-taper-cds: {exc}\n")
        return 2
    if args.command == "evaluate":
        return _evaluate(args.request, settings, as_json=args.json, fetch=args.fetch, explain=args.explain)
    if args.command == "snoozes":
        return _snoozes(args, settings)
    if args.command == "report":
        if (missing := _missing_sqlite_file(settings.database_url)) is not None:
            sys.stderr.write(f"no card log at {missing}: run the command where the service keeps its data (the "
                             "folder holding var/), or set DATABASE_URL or CDS_DATA_DIR as the service has them\n")
            return 1
        migrate(settings.database_url)
        with operation_budget(LONG_OPERATION_S):
            outcomes = card_outcomes(engine_for(settings.database_url))
        sys.stdout.write((json.dumps(outcomes, indent=2) if args.json else as_table(outcomes)) + "\n")
    return 0


def _snoozes(args: argparse.Namespace, settings: Settings) -> int:
    """List or clear snoozes in the service's database (the same DATABASE_URL and CDS_PATIENT_HASH_KEY)."""
    if (missing := _missing_sqlite_file(settings.database_url)) is not None:
        sys.stderr.write(f"no card log at {missing}: set DATABASE_URL or CDS_DATA_DIR as the service has them\n")
        return 1
    migrate(settings.database_url)
    engine = engine_for(settings.database_url)
    keys = [settings.patient_hash_key, *filter(None, [settings.previous_key(datetime.now(UTC))])]
    # During a key rotation a patient has a hash under each key: the previous one's snoozes still apply.
    patients = [args.patient_hash] if args.patient_hash else (
        [patient_hash(engine, args.patient, key, args.fhir_server) for key in keys] if args.patient else None)
    if args.clear:
        if patients is None or args.client is None:
            sys.stderr.write("snoozes --clear needs the patient (--patient or --patient-hash) and the EHR "
                             "(--client; '' for calls without a token)\n")
            return 2
        cleared = sum(clear_snoozes(engine, patient, args.client, args.card_type) for patient in patients)
        what = args.card_type or "every card type"
        sys.stdout.write(f"cleared {cleared} snoozing override(s) of {what} for this patient and client "
                         f"{args.client!r}; the cards show again on the next call\n")
        return 0
    types = frozenset([args.card_type]) if args.card_type else None
    found = [snooze for patient in (patients or [None]) for snooze in
             active_snoozes(engine, settings.snooze_days, client=args.client, patient=patient, card_types=types)]
    if args.json:
        sys.stdout.write(json.dumps([s.as_json() for s in found], indent=2) + "\n")
    elif not found:
        sys.stdout.write("no active snoozes\n")
    else:
        for s in found:
            sys.stdout.write(f"{s.card_type}  patient {s.patient_hash}  client {s.client!r}  since "
                             f"{s.since.isoformat(timespec='seconds')}  until {s.until.isoformat(timespec='seconds')}"
                             "\n")
    return 0


def _missing_sqlite_file(database_url: str) -> Path | None:
    """The SQLite file a report would read, when it does not exist: reading it would create an empty database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database).resolve()
    return None if path.exists() else path


class _FallbackReasons(logging.Handler):
    """Why each FHIR fallback read failed: the service keeps it for its log (a caller must not learn it); on the
    command line the person who named the server is told."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        reason = str(getattr(record, "reason", "")).partition(": ")[2]
        if reason and reason not in self.reasons:
            self.reasons.append(reason)


def _evaluate(path: Path, settings: Settings, *, as_json: bool, fetch: bool = False, explain: bool = False) -> int:
    """Exit 0 with the cards; 2 for an invalid request; 3 when data are missing (the service's 412)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        hook = body.get("hook") if isinstance(body, dict) else None
        service = next((s for s in SERVICES.values() if s.hook == hook), None)
        if service is None:
            raise ValidationError(f"unknown or missing hook {hook!r}")
        request = load_hook_request(body, service.hook)
    except (OSError, ValueError, ValidationError) as exc:
        message = flatten_messages(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        sys.stderr.write(f"invalid request: {message}\n")
        return 2
    seen: list[tuple[ClinicalFacts, EngineResult]] = []
    reasons = _FallbackReasons()
    fallback_log = logging.getLogger("cds_service.fhir")
    kept = fallback_log.propagate, fallback_log.level
    fallback_log.addHandler(reasons)
    # said once below, in words, instead of a log line per prefetch key
    fallback_log.propagate, fallback_log.level = False, logging.WARNING
    try:
        outcome = evaluate_hook_call(service, request, settings, allow_fetch=fetch,
                                     inspect=lambda facts, result: seen.append((facts, result)))
    except PreconditionFailed as exc:
        hint = f" (offline; --fetch reads them from {request['fhirServer']})" if "fhirServer" in request and \
            not fetch else ""
        sys.stderr.write(f"cannot evaluate: {exc.diagnostics}{hint}\n")
        for reason in reasons.reasons:
            sys.stderr.write(f"  {request['fhirServer']}: {reason}\n")
        if any("CDS_FHIR_ALLOWED" in reason for reason in reasons.reasons):
            sys.stderr.write(f"  e.g. CDS_FHIR_ALLOWED={request['fhirServer']} bzd-taper-cds evaluate --fetch "
                             f"{path}\n")
        return 3
    finally:
        fallback_log.removeHandler(reasons)
        fallback_log.propagate, fallback_log.level = kept
    if as_json:
        sys.stdout.write(json.dumps(outcome.response, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(cards_table(outcome.response["cards"]) + "\n")
    if explain and seen:
        facts, result = seen[0]
        shown = {(f.card_type, f.order_id) for f in select_cards(result.findings, frozenset)}
        sys.stdout.write("\n" + explain_evaluation(facts, result, shown) + "\n")
    return 0


def cards_table(cards: list[dict[str, Any]]) -> str:
    if not cards:
        return "No cards: nothing to say about these orders."
    lines = []
    for number, card in enumerate(cards, start=1):
        lines.append(f"{number}. [{card['indicator'].upper()}] {card['source']['topic']['code']}: {card['summary']}")
        lines += [f"     suggestion: {s['label']} ({', '.join(a['type'] for a in s['actions'])})"
                  for s in card.get("suggestions", [])]
        lines += [f"     link: {link['url']}" for link in card.get("links", [])]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared fixtures: the app (Flask tutorial style), an app factory taking settings, its client, and a helper for
hook calls.

Every app a test makes comes from these fixtures (``app``, ``make_app``) or ``app_on``, on the test's own database:
nothing one test writes — card log, feedback, snoozes, replayed token ids — reaches another. A test that calls
``create_app`` itself checks create_app's own behaviour (its refusals, its default settings) and says so."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

# Apps built outside the fixtures below keep their SQLite database in a throwaway folder, never in the work tree.
os.environ.setdefault("CDS_DATA_DIR", tempfile.mkdtemp(prefix="bzd-taper-cds-test-"))
# Production settings (CDS_AUTH=required) need the patient-hash key from the environment, as from a secret.
os.environ.setdefault("CDS_PATIENT_HASH_KEY", "test-patient-hash-key-" + "0" * 32)
# ... and the taper profile the installing organisation chose (the tests that check the refusal remove it).
os.environ.setdefault("CDS_TAPER_PROFILE", "summary")

from cds_service import create_app
from cds_service.db import engine_for, migrate
from tests.utils.cards import assert_valid_response

pytest_plugins = ["tests.utils.postgres"]  # fixtures `postgres` and `fresh_database` for any test


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the latest migration, made once per session: each test starts from a copy."""
    path = tmp_path_factory.mktemp("schema") / "cds.db"
    migrate(f"sqlite:///{path}")
    engine_for(f"sqlite:///{path}").dispose()  # the last connection closed: the WAL is folded into the file
    return path


@pytest.fixture
def database_url(tmp_path: Path, migrated_database: Path) -> str:
    """This test's own database (as the Flask tutorial's ``app`` fixture has): nothing one test writes — card
    log, feedback, snoozes, replayed token ids — reaches another."""
    shutil.copyfile(migrated_database, tmp_path / "cds.db")
    return f"sqlite:///{tmp_path / 'cds.db'}"


@contextmanager
def app_on(database_url: str, settings: Mapping[str, Any] | None = None) -> Iterator[Flask]:
    """An app on ``database_url`` whose connections are closed when the test ends."""
    app = create_app({"auth": "off", **(settings or {}), "database_url": database_url})
    yield app
    try:
        app.config["CARD_LOG"].flush()
    finally:
        engine_for(database_url).dispose()


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    with app_on(database_url) as app:
        yield app


MakeApp = Callable[..., Flask]
"""``make_app(settings=None)``: an app with these settings (over ``auth=off``) on the test's own database."""


@pytest.fixture
def make_app(database_url: str) -> Iterator[MakeApp]:
    """The app factory on this test's own database, for tests that need settings or several apps (as the Flask
    tutorial's ``app`` fixture passes its test config to the factory). Apps made in one test share its database,
    as the workers of one installation do; their connections are closed when the test ends."""
    with ExitStack() as apps:
        def make(settings: Mapping[str, Any] | None = None) -> Flask:
            return apps.enter_context(app_on(database_url, settings))

        yield make


ScenarioHooks = Callable[[Mapping[str, Any]], "HookCalls"]
"""``scenario_hooks(expected)``: hook calls to an app with the settings of a scenario's ``expected.json``."""


@pytest.fixture
def scenario_hooks(make_app: MakeApp) -> ScenarioHooks:
    """Hook calls to an app configured as a scenario's ``expected.json`` says, on this test's own database (one app
    per distinct settings within the test)."""
    made: dict[str, HookCalls] = {}

    def hooks(expected: Mapping[str, Any]) -> HookCalls:
        settings = dict(expected.get("settings", {}))
        key = repr(sorted(settings.items()))
        if key not in made:
            made[key] = HookCalls(make_app(settings).test_client())
        return made[key]

    return hooks


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class HookCalls:
    """Domain actions on the service (like the Flask tutorial's ``AuthActions``): build and post hook calls.

    Every 200 response is checked against the card rules, so no test can see an invalid card pass.
    """

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    @staticmethod
    def request(
        hook: str = "order-sign",
        *,
        drafts: list[dict[str, Any]] | None = None,
        patient: dict[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None,
        conditions: list[dict[str, Any]] | None = None,
        observations: list[dict[str, Any]] | None = None,
        dispenses: list[dict[str, Any]] | None = None,
        statements: list[dict[str, Any]] | None = None,
        selections: list[str] | None = None,
        patient_id: str = "p1",
    ) -> dict[str, Any]:
        from tests.utils.fhir import patient as make_patient
        from tests.utils.fhir import searchset

        drafts_bundle = {"resourceType": "Bundle", "type": "collection",
                         "entry": [{"resource": d} for d in drafts or []]}
        context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id}
        if hook == "medication-prescribe":
            context["medications"] = drafts_bundle
        else:
            context["draftOrders"] = drafts_bundle
        if hook == "order-select":
            context["selections"] = selections or [f"MedicationRequest/{d['id']}" for d in drafts or []]
        return {
            "hookInstance": str(uuid.uuid4()),
            "hook": hook,
            "context": context,
            "prefetch": {
                "patient": patient or make_patient(id=patient_id),
                "medicationRequests": searchset(*(history or [])),
                "medicationDispenses": searchset(*(dispenses or [])),
                "medicationStatements": searchset(*(statements or [])),
                "conditions": searchset(*(conditions or [])),
                "observations": searchset(*(observations or [])),
            },
        }

    def post(self, body: Any, service_id: str = "bzd-taper-order-sign", **kwargs: Any) -> Any:
        response = self._client.post(f"/cds-services/{service_id}", json=body, **kwargs)
        if response.status_code == 200:
            drafts = body["context"].get("draftOrders") or body["context"].get("medications")
            ids = {str(e["resource"].get("id")) for e in drafts.get("entry", []) if isinstance(e.get("resource"), dict)}
            assert_valid_response(response.get_json(), ids,
                                  "STU3" if service_id == "bzd-taper-medication-prescribe" else "R4")
        return response

    def cards(self, body: dict[str, Any], service_id: str = "bzd-taper-order-sign") -> list[dict[str, Any]]:
        response = self.post(body, service_id)
        assert response.status_code == 200, response.get_json()
        cards: list[dict[str, Any]] = response.get_json()["cards"]
        return cards


@pytest.fixture
def hooks(client: FlaskClient) -> HookCalls:
    return HookCalls(client)


def card_types(cards: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(card["source"]["topic"]["code"], card["indicator"]) for card in cards]

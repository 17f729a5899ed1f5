"""The steps of a hook call, each explicit (docs/service-contract.md §7): the rules, then — only when they found
something — the patient's snoozes, then — only when there are cards — the card log, which keys them by the same
pseudonym, looked up once."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.api import hooks
from tests.conftest import HookCalls
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each patient id the call looks the pseudonym up for."""
    asked: list[str] = []
    real = hooks.patient_hash

    def counted(engine: Any, patient_id: str, *args: Any) -> str:
        asked.append(patient_id)
        return real(engine, patient_id, *args)
    monkeypatch.setattr(hooks, "patient_hash", counted)
    return asked


def test_a_call_without_findings_never_looks_the_patient_up(client: FlaskClient, lookups: list[str]) -> None:
    assert HookCalls(client).cards(HookCalls.request(drafts=[], patient_id="p9")) == []
    assert lookups == []


def test_a_call_with_cards_looks_the_patient_up_once_for_its_snoozes_and_its_card_log(
        client: FlaskClient, lookups: list[str]) -> None:
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id="p9")
    assert [c["source"]["topic"]["code"] for c in HookCalls(client).cards(body)] == ["baclofen-adjunct"]
    assert lookups == ["p9"]

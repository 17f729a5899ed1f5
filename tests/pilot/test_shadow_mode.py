"""Shadow mode per client (``CDS_SHADOW_ISSUERS``): cards are computed and logged, the EHR receives none, and the
analytics say what would have fired — how a committee pilots a rule set before switching it on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cds_service.config import Settings
from cds_service.metrics import CARDS
from tests.conftest import HookCalls, MakeApp
from tests.utils.ehr import Ehr, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12

SILENT, LIVE = "https://pilot-ehr.example", "https://live-ehr.example"


def test_a_shadow_client_receives_no_cards_and_the_analytics_count_what_would_have_fired(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, make_app: MakeApp) -> None:
    app = make_app({"auth": "required", "shadow_issuers": (SILENT,),
                      "trusted_issuers_file": trust_file(tmp_path, {SILENT: {}, LIVE: {}})})
    client = app.test_client()
    silent, live = Ehr(client, SILENT), Ehr(client, LIVE)
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    returned = CARDS.labels("baclofen-adjunct", "warning")
    before = returned._value.get()
    with caplog.at_level(logging.INFO, logger="cds_service.api.hooks"):
        assert silent.call(body).get_json() == {"cards": []}
    assert returned._value.get() == before, "cds_cards_total counts cards returned, not shadow ones"
    [line] = [r for r in caplog.records if r.getMessage() == "hook evaluated"]
    assert (line.cards, line.shadow) == (["baclofen-adjunct:warning"], True)  # type: ignore[attr-defined]
    assert [c["source"]["topic"]["code"] for c in live.call(body).get_json()["cards"]] == ["baclofen-adjunct"]
    pilot = silent.analytics()["baclofen-adjunct"]
    assert (pilot["shown"], pilot["shadow"]) == (0, 1)
    shown = live.analytics()["baclofen-adjunct"]
    assert (shown["shown"], shown["shadow"]) == (1, 0)
    app.config["CARD_LOG"].flush()


def test_the_setting_names_issuers_every_client_or_calls_without_a_token() -> None:
    settings = Settings.from_env({"CDS_SHADOW_ISSUERS": f"{SILENT}, -"})
    assert (settings.shadow(SILENT), settings.shadow(""), settings.shadow(LIVE)) == (True, True, False)
    assert Settings.from_env({"CDS_SHADOW_ISSUERS": "*"}).shadow(LIVE)
    assert not Settings.from_env({}).shadow("")

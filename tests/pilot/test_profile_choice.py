"""The taper profile is the installing organisation's clinical policy (docs/clinical-reference.md §0): a production
start names it or refuses to start, and every card and plan page says which profile produced it and where it is
published."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.config import SettingsError
from tests.conftest import HookCalls, MakeApp
from tests.utils.ehr import trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://ehr.example"
WHY = "CDS_TAPER_PROFILE is required with CDS_AUTH=required: the taper thresholds are a clinical policy"


def test_a_production_start_without_a_chosen_profile_is_refused(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app's own refusal at start, and its reading of the profile from the environment (on a database
    file of this test's own)."""
    monkeypatch.delenv("CDS_TAPER_PROFILE")
    settings = {"database_url": f"sqlite:///{tmp_path}/cds.db", "auth": "required",
                "trusted_issuers_file": trust_file(tmp_path, {ISSUER: {}})}
    with pytest.raises(SettingsError, match=WHY):
        create_app(settings)
    monkeypatch.setenv("CDS_TAPER_PROFILE", "summary")  # chosen explicitly, even if it is the development default
    assert create_app(settings).config["SETTINGS"].taper_profile == "summary"


def test_gunicorn_says_why_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CDS_AUTH": "required", "CDS_DATA_DIR": str(tmp_path),
           "CDS_TRUSTED_ISSUERS": str(trust_file(tmp_path, {ISSUER: {}})), "CDS_PATIENT_HASH_KEY": "k" * 40,
           "CDS_BIND": "127.0.0.1:0", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "--config", "deploy/gunicorn.conf.py",
                             "cds_service:create_app()"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert [line for line in result.stderr.splitlines() if WHY in line] != []
    assert "Traceback" not in result.stderr


def test_development_keeps_the_summary_and_the_cards_say_it_has_no_published_source(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_TAPER_PROFILE")
    app = make_app()
    cards = HookCalls(app.test_client()).cards(HookCalls.request(drafts=[baclofen_draft()],
                                                                  history=diazepam_taper_15_to_12()))
    assert cards
    for card in cards:
        assert card["extension"]["bzd-taper-cds.knowledge"]["profile"] == "summary"
        assert ("taper thresholds of the taper summary guidance (a guidance summary with no named published "
                "source, not a guideline)") in card["detail"].splitlines()[-1]


def test_cards_and_the_plan_page_name_the_joint_guideline_and_where_it_is_published(make_app: MakeApp) -> None:
    app = make_app({"taper_profile": "joint-2025"})
    client = app.test_client()
    cards = HookCalls(client).cards(HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12()))
    assert cards
    for card in cards:
        assert ("taper thresholds of the 2025 Joint Guideline (Brunner E, et al. J Gen Intern Med 2025, "
                "https://doi.org/10.1007/s11606-025-09499-2)") in card["detail"].splitlines()[-1]
    page = client.get("/taper-plan?drug=diazepam&dose=20&profile=joint-2025").get_data(as_text=True)
    assert ("Pace: <strong>the 2025 Joint Guideline</strong> (Brunner E, et al. J Gen Intern Med 2025, "
            "https://doi.org/10.1007/s11606-025-09499-2)") in page
    page = client.get("/taper-plan?drug=diazepam&dose=20&profile=summary").get_data(as_text=True)
    assert ("Pace: <strong>the taper summary guidance</strong> (a guidance summary with no named published source, "
            "not a guideline)") in page

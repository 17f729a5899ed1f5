"""The taper-plan page in a real browser: Debian's chromium driven by playwright, no browser download
(issue #8 item 3). A screenshot is saved under test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.taper_plan import taper_plan
from cds_service.clinical.terminology import load_terminology
from tests.utils.ehr import trust_file
from tests.utils.server import ROOT, gunicorn

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="Debian chromium not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("page")
    trust = trust_file(data, {"https://ehr.example": {}})  # production settings need a trusted issuer to start
    with gunicorn({"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": str(trust), "DATABASE_URL": f"sqlite:///{data}/cds.db"},
                  workers=1) as url:
        yield url


def test_page_renders_chart_and_table_in_chromium(base: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    plan = taper_plan(Fraction(12), date(2026, 3, 16), taper_profile("summary"), load_terminology(),
                      long_term=True, older_adult=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.goto(f"{base}/taper-plan?drug=diazepam&dose=12&profile=summary&long_term=yes&age=65-plus")
        assert page.locator("h1").inner_text() == "Proposed taper: diazepam 12 mg/day"
        assert page.locator("svg#taper-chart circle.step").count() == len(plan.steps)
        assert page.locator("svg#taper-chart").get_attribute("role") == "img"
        days = page.locator("#steps tbody tr td:first-child").all_inner_texts()
        assert days == ["0"] + [str(step.day) for step in plan.steps]
        doses = page.locator("#steps tbody tr td:nth-child(2)").all_inner_texts()
        assert doses == ["12"] + [f"{float(s.dose.daily_mg if s.dose else 0):g}" for s in plan.steps]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "taper-plan.png"), full_page=True)
        bad = page.goto(f"{base}/taper-plan?dose=oops")
        assert bad is not None and bad.status == 400
        assert "dose" in page.locator("div.error").inner_text()
        browser.close()
    assert (ARTIFACTS / "taper-plan.png").stat().st_size > 10_000

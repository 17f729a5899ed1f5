"""The taper-plan page in a real browser: Debian's chromium driven by playwright, no browser download: the native and
diazepam-switch plans side by side and the patient handout.
Screenshots are saved under test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path

import pytest

from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.taper_plan import diazepam_switch_plan, taper_plan
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


def test_page_renders_both_plans_and_the_handout_in_chromium(base: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    today = datetime.now(UTC).date()
    native = taper_plan(Fraction(3), today, taper_profile("summary"), load_terminology(), ingredient="lorazepam",
                        doses_per_day=3, long_term=True)
    switch = diazepam_switch_plan(Fraction(3), today, taper_profile("summary"), load_terminology(),
                                  ingredient="lorazepam", doses_per_day=3, long_term=True)
    assert switch is not None
    query = "drug=lorazepam&dose=3&doses_per_day=3&profile=summary&long_term=yes&age=under-65"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(f"{base}/taper-plan?{query}")
        assert page.locator("h1").inner_text() == "Proposed taper: lorazepam 3 mg/day"
        assert "Recommended: switch to diazepam." in page.locator("#recommendation").inner_text()
        # side by side: the two plans start at the same height, the switch plan to the right
        native_box = page.locator("#native-plan").bounding_box()
        switch_box = page.locator("#switch-plan").bounding_box()
        assert native_box is not None and switch_box is not None
        assert switch_box["x"] > native_box["x"] + native_box["width"] - 1 and switch_box["y"] == native_box["y"]
        assert page.locator("svg#taper-chart circle.step").count() == len(native.steps)
        assert page.locator("svg#switch-chart circle.step").count() == len(switch.switch_stages) + len(switch.steps)
        days = page.locator("#steps tbody tr td:first-child").all_inner_texts()
        assert days == ["0"] + [str(step.day) for step in native.steps]
        first = page.locator("#steps tbody tr").nth(1).locator("td").nth(2).inner_text()
        assert first.splitlines() == ["lorazepam 0.5 MG Oral Tablet", "Morning: 2 tablets (1 mg)",
                                      "Midday: 1½ tablets (0.75 mg)", "Bedtime: 2 tablets (1 mg)"]
        stage = page.locator("#switch-steps tbody tr").nth(1).locator("td")
        assert stage.nth(1).inner_text() == "15 mg diazepam + 1.5 mg lorazepam"
        assert stage.nth(3).inner_text() == "30"  # Ashton: 15 + 1.5 × 10 / 1, the same as before the switch
        assert stage.nth(4).inner_text() == "22.5"  # VA/DoD: 15 + 1.5 × 10 / 2
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "taper-plan.png"), full_page=False)
        page.get_by_role("link", name="Patient handout for this plan").nth(1).click()
        assert page.locator("h1").inner_text() == "Your plan for lowering lorazepam"
        rows = page.locator("#handout tbody tr")
        assert rows.count() == len(switch.switch_stages) + len(switch.steps)
        assert rows.nth(0).locator("td").nth(0).inner_text() == today.isoformat()
        assert rows.nth(0).locator("td").nth(1).inner_text().splitlines() == [
            "Morning: 1½ tablets (7.5 mg) of diazepam 5 MG Oral Tablet",
            "Bedtime: 1½ tablets (7.5 mg) of diazepam 5 MG Oral Tablet",
            "Morning: 1 tablet (0.5 mg) of lorazepam 0.5 MG Oral Tablet",
            "Midday: 1 tablet (0.5 mg) of lorazepam 0.5 MG Oral Tablet",
            "Bedtime: 1 tablet (0.5 mg) of lorazepam 0.5 MG Oral Tablet"]
        assert rows.last.locator("td").nth(1).inner_text() == "Stop: take no more tablets or liquid."
        text = page.locator("main").inner_text()
        assert "Pauses are fine." in text and "Tell your prescriber if you notice" in text and "seizure" in text
        page.emulate_media(media="print")
        assert not page.get_by_text("Print this page").is_visible()
        page.screenshot(path=str(ARTIFACTS / "taper-handout.png"), full_page=True)
        browser.close()


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
        bad = page.goto(f"{base}/taper-plan?dose=oops")
        assert bad is not None and bad.status == 400
        assert "dose" in page.locator("div.error").inner_text()
        browser.close()
    assert (ARTIFACTS / "taper-plan.png").stat().st_size > 10_000

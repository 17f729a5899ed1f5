"""The taper-plan page in a real browser: Debian's chromium driven by playwright, no browser download: the native and
diazepam-switch plans one after the other, each step on one or two lines, and the patient handout.
Screenshots are saved under test-artifacts/ (the README's docs/taper-plan.png, docs/taper-switch-plan.png and
docs/taper-handout.png are copies of them)."""

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
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{base}/taper-plan?{query}")
        assert page.locator("h1").inner_text() == "Proposed taper: lorazepam 3 mg/day"
        assert "Recommended: switch to diazepam." in page.locator("#recommendation").inner_text()
        # one after the other, the native plan first, each as wide as the page
        native_box = page.locator("#native-plan").bounding_box()
        switch_box = page.locator("#switch-plan").bounding_box()
        assert native_box is not None and switch_box is not None
        assert switch_box["y"] >= native_box["y"] + native_box["height"] and switch_box["x"] == native_box["x"]
        assert page.locator("svg#taper-chart circle.step").count() == len(native.steps)
        assert page.locator("svg#switch-chart circle.step").count() == len(switch.switch_stages) + len(switch.steps)
        days = page.locator("#steps tbody tr.step td:first-child").all_inner_texts()
        assert days == [str(step.day) for step in native.steps]
        # each step reads on one line (a switch stage, naming both drugs, on two at most)
        line = page.locator("#steps tbody tr.today").bounding_box()
        assert line is not None
        for table in ("#steps", "#switch-steps"):
            for box in (row.bounding_box() for row in page.locator(f"{table} tbody tr.step").all()):
                assert box is not None and box["height"] <= 2 * line["height"] + 1
        assert page.locator("#steps tbody tr.run").all_inner_texts() == [
            "lorazepam 0.5 MG Oral Tablet (amounts in tablets)", "lorazepam 2 MG/ML Oral Solution (amounts in mL)"]
        cells = page.locator("#switch-steps tbody tr.step").nth(0).locator("td")
        assert cells.nth(2).inner_text().splitlines() == ["15 mg diazepam", "+ 1.5 mg lorazepam"]
        assert cells.nth(4).inner_text() == "30"  # Ashton: 15 + 1.5 × 10 / 1, the same as before the switch
        assert cells.nth(5).inner_text() == "22.5"  # VA/DoD: 15 + 1.5 × 10 / 2, up from 15
        assert cells.nth(6).inner_text().splitlines() == ["Ashton no change", "VA/DoD 50 % increase"]
        height = page.evaluate("document.documentElement.scrollHeight")
        # was about 10,000 px with the plans side by side; now 14 + 34 rows of one line each, two charts
        assert height < 5200, f"the page is {height} px tall"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "taper-plan.png"), full_page=False)
        page.locator("#switch-plan").scroll_into_view_if_needed()
        page.locator("#switch-plan").screenshot(path=str(ARTIFACTS / "taper-switch-plan.png"))
        page.get_by_role("link", name="Patient handout for this plan").nth(1).click()
        assert page.locator("h1").inner_text() == "Your plan for lowering lorazepam"
        rows = page.locator("#handout tbody tr")
        assert rows.count() == 1 + len(switch.switch_stages) + len(switch.steps)
        written = f"{today:%A}, {today:%B} {today.day}, {today.year}"
        assert rows.nth(0).locator("td").nth(0).inner_text() == f"Today, {written}"
        assert rows.nth(1).locator("td").nth(1).inner_text().splitlines() == [
            "In the morning: 1½ diazepam 5 mg tablets and 1 lorazepam 0.5 mg tablet",
            "At midday: 1 lorazepam 0.5 mg tablet",
            "At bedtime: 1½ diazepam 5 mg tablets and 1 lorazepam 0.5 mg tablet"]
        assert rows.nth(1).locator("td").nth(2).inner_text() == "15 mg of diazepam and 1.5 mg of lorazepam"
        assert rows.last.locator("td").nth(1).inner_text() == "Stop: take no more diazepam."
        assert page.locator("#supplies li").count() == 3
        text = page.locator("main").inner_text()
        assert "Pauses are fine." in text and "Tell your prescriber if you notice" in text and "seizure" in text
        assert "tachycardia" not in text
        page.emulate_media(media="print")
        assert not page.get_by_text("Print this page").is_visible()
        page.set_viewport_size({"width": 1000, "height": 1100})
        page.screenshot(path=str(ARTIFACTS / "taper-handout.png"), full_page=False)
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
        days = page.locator("#steps tbody tr:not(.run) td:first-child").all_inner_texts()
        assert days == ["Today"] + [str(step.day) for step in plan.steps]
        doses = page.locator("#steps tbody tr:not(.run) td:nth-child(3)").all_inner_texts()
        assert doses == ["12 mg diazepam"] + [f"{float(s.daily_mg):g} mg diazepam" if s.dose else "0 mg (stop)"
                                              for s in plan.steps]
        bad = page.goto(f"{base}/taper-plan?dose=oops")
        assert bad is not None and bad.status == 400
        assert "dose" in page.locator("div.error").inner_text()
        browser.close()
    for name in ("taper-plan.png", "taper-switch-plan.png", "taper-handout.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000

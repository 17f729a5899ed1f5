"""``GET /taper-plan`` and the links cards give to it."""

from __future__ import annotations

import re
from datetime import date
from fractions import Fraction
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.taper_plan import taper_plan
from cds_service.clinical.terminology import load_terminology
from tests.conftest import HookCalls, MakeApp
from tests.utils.ehr import token, trust_file
from tests.utils.scenarios import request as scenario_request


def step_rows(page: str, table: str = "steps") -> list[list[str]]:
    """The cells of each dated row of a plan's table (today and every step), tags removed."""
    body = page.split(f'<table id="{table}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="(?:today|step)[^"]*">(.*?)</tr>', body, re.S)
    return [[re.sub(r"<[^>]+>", "", cell.replace("<br>", " / ")).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def run_headers(page: str, table: str = "steps") -> list[str]:
    body = page.split(f'<table id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr class="run"><th scope="rowgroup" colspan="7">(.*?)</th></tr>', body)


def test_plan_page_shows_the_core_schedule(client: FlaskClient) -> None:
    response = client.get("/taper-plan?drug=diazepam&dose=20&profile=summary&long_term=no&age=under-65")
    assert response.status_code == 200 and response.content_type.startswith("text/html")
    page = response.get_data(as_text=True)
    plan = taper_plan(Fraction(20), date(2026, 3, 16), taper_profile("summary"), load_terminology())
    assert "<h1>Proposed taper: diazepam 20 mg/day</h1>" in page
    rows = step_rows(page)
    assert [row[0] for row in rows] == ["Today"] + [str(s.day) for s in plan.steps]
    assert [row[2] for row in rows] == ["20 mg diazepam"] + [
        f"{float(s.daily_mg):g} mg diazepam" if s.dose else "0 mg (stop)" for s in plan.steps]
    assert page.count('<circle class="step"') == len(plan.steps) == 10
    assert "Pauses are acceptable" in page and "There is no fixed timeline" in page and "at least monthly" in page
    assert 'role="img"' in page and "<caption>" in page and 'scope="col"' in page


def test_each_step_reads_on_one_line_with_the_product_named_once_per_run(client: FlaskClient) -> None:
    """Lorazepam 3 mg/day long-term: one header per product, and each step's doses in the run's units."""
    page = client.get("/taper-plan?drug=lorazepam&dose=3&doses_per_day=3&profile=summary&long_term=yes"
                      "&age=under-65").get_data(as_text=True)
    assert run_headers(page) == ["lorazepam 0.5 MG Oral Tablet (amounts in tablets)",
                                 "lorazepam 2 MG/ML Oral Solution (amounts in mL)"]
    rows = step_rows(page)
    assert rows[:3] == [
        ["Today", rows[0][1], "3 mg lorazepam", "the current dose", "30", "15", "—"],
        ["30", rows[1][1], "2.75 mg lorazepam", "morning 2 · midday 1½ · bedtime 2", "27.5", "13.75",
         "8.3 % reduction"],
        ["60", rows[2][1], "2.6 mg lorazepam", "morning 0.4 mL · midday 0.4 mL · bedtime 0.5 mL", "26", "13",
         "5.5 % reduction"],
    ]
    assert not any("Oral" in row[3] for row in rows), "the product is named in its run's header only"
    # a step beyond the pace points to its reason, stated once below the table
    assert rows[7][6] == "11.1 % reduction 1"
    assert ('<li id="native-why-1">Larger than the pace: lorazepam 0.5 MG Oral Tablet could give 1.75 mg/day, '
            "within the pace, but the plan keeps lorazepam 2 MG/ML Oral Solution") in page
    # the plans follow each other, the native plan first
    assert page.index('id="native-plan"') < page.index('id="switch-plan"') and 'class="plans"' not in page


def test_switch_stages_show_both_tables_and_never_a_reduction_where_one_table_rises(client: FlaskClient) -> None:
    page = client.get("/taper-plan?drug=lorazepam&dose=3&doses_per_day=3&profile=summary&long_term=yes"
                      "&age=under-65").get_data(as_text=True)
    rows = step_rows(page, "switch-steps")
    # Ashton: 15 + 1.5 × 10 / 1 = 30, as before; VA/DoD: 15 + 1.5 × 10 / 2 = 22.5, up from 3 × 10 / 2 = 15
    assert rows[1][2:] == ["15 mg diazepam / + 1.5 mg lorazepam",
                           "diazepam: morning 1½ · bedtime 1½ / lorazepam: morning 1 · midday 1 · bedtime 1",
                           "30", "22.5", "Ashton no change / VA/DoD 50 % increase"]
    assert rows[2][4:] == ["30", "30", "Ashton no change / VA/DoD 33.3 % increase"]
    assert not any(row[6] in ("0 % reduction", "no change") for row in rows)
    assert run_headers(page, "switch-steps")[0] == ("Switch stage: diazepam 5 MG Oral Tablet with lorazepam 0.5 MG "
                                                    "Oral Tablet")


@pytest.mark.parametrize(("age", "recommended", "beers"), [("under-65", True, False), ("65-plus", False, True),
                                                         ("unknown", True, False)])
def test_the_diazepam_switch_is_never_recommended_at_65_or_older(client: FlaskClient, age: str, recommended: bool,
                                                                  beers: bool) -> None:
    page = client.get(f"/taper-plan?drug=lorazepam&dose=3&doses_per_day=3&profile=summary&long_term=yes&age={age}"
                      ).get_data(as_text=True)
    assert ("Recommended: switch to diazepam." in page) is recommended
    assert ('<p class="note" id="beers"><strong>Age 65 or older: the lorazepam plan first; the switch to diazepam is '
            "not recommended.</strong>" in page) is beers
    assert ("(not recommended at 65 or older — Beers 2023)" in page) is beers
    assert ("If the patient is 65 or older, the Beers criteria advise against benzodiazepines" in page) is (
        age == "unknown")


def test_a_drug_without_a_factor_in_the_configured_table_says_so_never_0_mg(make_app: MakeApp) -> None:
    """Clobazam has no VA/DoD factor: the VA/DoD column names it, the chart and schedule use the Ashton table and
    say why (before: "0 mg DE" at every step)."""
    app = make_app({"auth": "off", "equivalence_table": "va-dod"})
    page = app.test_client().get("/taper-plan?drug=clobazam&dose=20").get_data(as_text=True)
    rows = step_rows(page)
    assert rows[0][4:6] == ["10", "no VA/DoD factor for clobazam"]
    assert all(row[5] in ("no VA/DoD factor for clobazam", "0") for row in rows)
    chart = page.split('id="steps"')[0].split('<svg id="taper-chart"')[1]
    assert rows[-1][5] == "0" and chart.count(" 0 mg DE</title>") == 1, "0 only at the stop"
    assert ("The VA/DoD table has no factor for clobazam: the schedule and chart use the Ashton table." in page)
    assert "Equivalence to 10 mg diazepam: Ashton 20 mg clobazam; VA/DoD no factor for clobazam" in page


@pytest.mark.parametrize(("query", "field"), [
    ("drug=ketamine&dose=10", "drug"), ("dose=abc", "dose"), ("dose=0", "dose"), ("dose=500", "dose"),
    ("dose=10&profile=fast", "profile"), ("dose=10&long_term=maybe", "long_term"), ("dose=10&age=40", "age"),
    ("dose=10&doses_per_day=9", "doses_per_day"),
    ("dose=10&product=311376", "product"),  # lorazepam liquid for diazepam
    ("", "dose"), ("dose=NaN", "dose"), ("dose=Infinity", "dose"),
])
def test_bad_parameters_get_a_400_page_naming_the_parameter(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/taper-plan?{query}")
    assert response.status_code == 400
    assert f"<li><strong>{field}</strong>:" in response.get_data(as_text=True)


def test_rate_cards_link_to_the_plan_for_the_patients_situation(tmp_path: Path, make_app: MakeApp) -> None:
    body = scenario_request("s02-step-30-percent-too-fast")
    issuer, sign = "https://ehr.example", "https://cds.example.org/cds-services/bzd-taper-order-sign"
    app = make_app({"auth": "required", "public_base_url": "https://cds.example.org",
                      "trusted_issuers_file": trust_file(tmp_path, {issuer: {}}), "patient_hash_key": "k" * 32})
    answer = HookCalls(app.test_client()).post(body, headers={"Authorization": f"Bearer {token(issuer, sign)}"})
    [card] = answer.get_json()["cards"]
    [link] = card["links"]
    assert link["type"] == "absolute" and link["label"] == "Proposed diazepam taper schedule"
    url = urlsplit(link["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "cds.example.org", "/taper-plan")
    assert parse_qs(url.query) == {"drug": ["diazepam"], "dose": ["20"], "profile": ["summary"],
                                   "long_term": ["no"], "age": ["under-65"], "doses_per_day": ["2"],
                                   "product": ["197590"]}  # the draft's product: diazepam 2 mg tablet
    assert "p1" not in link["url"] and "1977" not in link["url"], "no identifiers in the URL"
    page = app.test_client().get(link["url"].removeprefix("https://cds.example.org"))
    assert page.status_code == 200
    # the page's first step is the card's one-click step: 15 mg/day in the draft's 2 mg tablets
    [fix] = card["suggestions"]
    assert fix["label"].startswith("Reduce to 15 mg/day instead")
    first = step_rows(page.get_data(as_text=True))[1]
    assert (first[2], first[3]) == ("15 mg diazepam", "morning 3½ · bedtime 4")
    assert run_headers(page.get_data(as_text=True))[0] == "diazepam 2 MG Oral Tablet (amounts in tablets)"


@pytest.mark.parametrize(("query", "heading", "rows"), [
    ("drug=diazepam&dose=12.5&profile=joint-2025&long_term=yes&age=65-plus", "diazepam 12.5 mg/day",
     [("Today", "12.5 mg diazepam", "12.5", "12.5"), ("30", "11.4 mg diazepam", "11.4", "11.4")]),
    ("drug=lorazepam&dose=2", "lorazepam 2 mg/day",
     [("Today", "2 mg lorazepam", "20", "10"), ("14", "1.5 mg lorazepam", "15", "7.5")]),
    ("drug=clonazepam&dose=0.25", "clonazepam 0.25 mg/day",
     [("Today", "0.25 mg clonazepam", "5", "2.5"), ("14", "0.125 mg clonazepam", "2.5", "1.25")]),
])
def test_plan_page_prints_numbers_exactly(client: FlaskClient, query: str, heading: str,
                                          rows: list[tuple[str, ...]]) -> None:
    """The page takes the cards' formatter: 20 is "20" (not "2"), 0.125, 0.25 and 12.5 as they are; both tables'
    diazepam-equivalents."""
    page = client.get(f"/taper-plan?{query}").get_data(as_text=True)
    assert f"<h1>Proposed taper: {heading}</h1>" in page
    assert [(row[0], row[2], row[4], row[5]) for row in step_rows(page)[:2]] == rows


def test_each_plan_links_to_its_patient_handout(client: FlaskClient) -> None:
    page = client.get("/taper-plan?drug=oxazepam&dose=30&doses_per_day=3&view=plans").get_data(as_text=True)
    links = re.findall(r'<a href="([^"]+)">Patient handout for this plan</a>', page)
    assert [parse_qs(urlsplit(link.replace("&amp;", "&")).query) for link in links] == [
        {"drug": ["oxazepam"], "dose": ["30"], "doses_per_day": ["3"], "view": ["handout"], "plan": [plan]}
        for plan in ("native", "switch")]
    handout = client.get("/taper-plan" + links[0].replace("&amp;", "&")).get_data(as_text=True)
    assert "<h1>Your plan for lowering oxazepam</h1>" in handout
    assert "<strong>Once a day:</strong> 1 oxazepam 15 mg capsule" in handout
    assert "Pauses are fine." in handout and "Do not stop suddenly" in handout


def handout_rows(page: str) -> list[list[str]]:
    body = page.split('<table id="handout"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    return [[re.sub(r"<[^>]+>", "", cell.replace("<br>", "\n")).strip() for cell in re.findall(r"<td>(.*?)</td>", row,
                                                                                               re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_handout_starts_today_in_plain_words_one_block_per_time_of_day(client: FlaskClient) -> None:
    from datetime import UTC, datetime, timedelta
    today = datetime.now(UTC).date()
    page = client.get("/taper-plan?drug=lorazepam&dose=3&doses_per_day=3&profile=summary&long_term=yes"
                      "&age=under-65&view=handout&plan=switch").get_data(as_text=True)
    rows = handout_rows(page)

    def written(day: date) -> str:
        return f"{day:%A}, {day:%B} {day.day}, {day.year}"
    assert rows[0] == [f"Today, {written(today)}",
                       "Your usual lorazepam dose until now: 3 mg of lorazepam a day. The first change is today: "
                       "take what the next line says from today on.", "3 mg of lorazepam"]
    # the first stage: each time of day once, both drugs named on the line, the total naming both
    assert rows[1] == [written(today),
                       "In the morning: 1½ diazepam 5 mg tablets and 1 lorazepam 0.5 mg tablet\n"
                       "At midday: 1 lorazepam 0.5 mg tablet\n"
                       "At bedtime: 1½ diazepam 5 mg tablets and 1 lorazepam 0.5 mg tablet",
                       "15 mg of diazepam and 1.5 mg of lorazepam"]
    assert rows[2][0] == written(today + timedelta(days=7))
    assert rows[6][1].startswith("In the morning: 10.2 mL of diazepam liquid (1 mg in each mL)")
    assert rows[-1][1] == "Stop: take no more diazepam."
    assert not re.search(r"\d{4}-\d{2}-\d{2}", page), "dates are written out"
    for word in ("tachycardia", "insomnia", "tremor", "nausea", "orally disintegrating"):
        assert word not in page
    supplies = re.findall(r"<li><strong>(.*?)</strong>: from (.*?) to (.*?) — about (.*?) in all.</li>", page)
    # diazepam 5 mg: 3 a day for 7 days, 6 for 30, then 5½, 5 and 4½ a day for 30 days each = 651
    assert [(product, amount) for product, _, _, amount in supplies] == [
        ("diazepam 5 mg tablets", "651 tablets"), ("lorazepam 0.5 mg tablets", "21 tablets"),
        ("diazepam liquid (1 mg in each mL)", "6312 mL")]
    # the lorazepam tablets for the first week only: the last day taken is the day before the next line's date
    assert supplies[1][1:3] == (written(today), written(today + timedelta(days=6)))
    assert "This plan uses 3 medicines" in page

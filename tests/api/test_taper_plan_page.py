"""``GET /taper-plan`` and the links cards give to it."""

from __future__ import annotations

import json
import re
from datetime import date
from fractions import Fraction
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from cds_service import create_app
from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.taper_plan import taper_plan
from cds_service.clinical.terminology import load_terminology
from tests.conftest import HookCalls
from tests.utils.ehr import token, trust_file

FIXTURES = Path(__file__).resolve().parents[2] / "fhir_fixtures"


def test_plan_page_shows_the_core_schedule(client: FlaskClient) -> None:
    response = client.get("/taper-plan?drug=diazepam&dose=20&profile=summary&long_term=no&age=under-65")
    assert response.status_code == 200 and response.content_type.startswith("text/html")
    page = response.get_data(as_text=True)
    plan = taper_plan(Fraction(20), date(2026, 3, 16), taper_profile("summary"), load_terminology())
    assert "<h1>Proposed taper: diazepam 20 mg/day</h1>" in page
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td class=\"num\">([\d.]+)</td>", page)
    assert rows == [("0", "20")] + [(str(s.day), f"{float(s.dose.daily_mg if s.dose else 0):g}") for s in plan.steps]
    assert page.count('<circle class="step"') == len(plan.steps) == 10
    assert "Pauses are acceptable" in page and "There is no fixed timeline" in page and "at least monthly" in page
    assert 'role="img"' in page and "<caption>" in page and 'scope="col"' in page


@pytest.mark.parametrize(("query", "field"), [
    ("drug=ketamine&dose=10", "drug"), ("dose=abc", "dose"), ("dose=0", "dose"), ("dose=500", "dose"),
    ("dose=10&profile=fast", "profile"), ("dose=10&long_term=maybe", "long_term"), ("dose=10&age=40", "age"),
    ("dose=10&doses_per_day=9", "doses_per_day"), ("", "dose"), ("dose=NaN", "dose"), ("dose=Infinity", "dose"),
])
def test_bad_parameters_get_a_400_page_naming_the_parameter(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/taper-plan?{query}")
    assert response.status_code == 400
    assert f"<li><strong>{field}</strong>:" in response.get_data(as_text=True)


def test_rate_cards_link_to_the_plan_for_the_patients_situation(tmp_path: Path) -> None:
    body = json.loads((FIXTURES / "s02-step-30-percent-too-fast/request.json").read_text())
    issuer, sign = "https://ehr.example", "https://cds.example.org/cds-services/bzd-taper-order-sign"
    app = create_app({"auth": "required", "public_base_url": "https://cds.example.org",
                      "trusted_issuers_file": trust_file(tmp_path, {issuer: {}}), "patient_hash_key": "k" * 32,
                      "database_url": f"sqlite:///{tmp_path}/cds.db"})
    answer = HookCalls(app.test_client()).post(body, headers={"Authorization": f"Bearer {token(issuer, sign)}"})
    [card] = answer.get_json()["cards"]
    [link] = card["links"]
    assert link["type"] == "absolute" and link["label"] == "Proposed diazepam taper schedule"
    url = urlsplit(link["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "cds.example.org", "/taper-plan")
    assert parse_qs(url.query) == {"drug": ["diazepam"], "dose": ["20"], "profile": ["summary"],
                                   "long_term": ["no"], "age": ["under-65"], "doses_per_day": ["2"]}
    assert "p1" not in link["url"] and "1977" not in link["url"], "no identifiers in the URL"
    assert app.test_client().get(link["url"].removeprefix("https://cds.example.org")).status_code == 200


@pytest.mark.parametrize(("query", "heading", "rows", "fragment"), [
    ("drug=diazepam&dose=12.5&profile=joint-2025&long_term=yes&age=65-plus", "diazepam 12.5 mg/day",
     [("0", "12.5", "12.5", "12.5"), ("30", "11.4", "11.4", "11.4")],
     "22 reductions of at most 10 % of the current dose"),
    ("drug=lorazepam&dose=2", "lorazepam 2 mg/day", [("0", "2", "20", "10"), ("14", "1.5", "15", "7.5")],
     "Morning: 1½ tablets (0.75 mg)<br>Bedtime: 1½ tablets (0.75 mg)"),
    ("drug=clonazepam&dose=0.25", "clonazepam 0.25 mg/day", [("0", "0.25", "5", "2.5"), ("14", "0.125", "2.5", "1.25")],
     "Once a day: 1 orally disintegrating tablet (0.125 mg)"),
])
def test_plan_page_prints_numbers_exactly(client: FlaskClient, query: str, heading: str,
                                          rows: list[tuple[str, ...]], fragment: str) -> None:
    """The page takes the cards' formatter: 20 is "20" (not "2"), 0.125, 0.25 and 12.5 as they are; both tables'
    diazepam-equivalents."""
    page = client.get(f"/taper-plan?{query}").get_data(as_text=True)
    assert f"<h1>Proposed taper: {heading}</h1>" in page and fragment in page
    found = re.findall(r"<tr(?: class=\"beyond\")?><td class=\"num\">(\d+)</td><td class=\"num\">([\d.]+)</td>\s*"
                       r"<td>.*?</td>\s*<td class=\"num\">([\d.]+)</td><td class=\"num\">([\d.]+)</td>", page)
    assert found[:2] == rows


def test_each_plan_links_to_its_patient_handout(client: FlaskClient) -> None:
    page = client.get("/taper-plan?drug=oxazepam&dose=30&doses_per_day=3&view=plans").get_data(as_text=True)
    links = re.findall(r'<a href="([^"]+)">Patient handout for this plan</a>', page)
    assert [parse_qs(urlsplit(link.replace("&amp;", "&")).query) for link in links] == [
        {"drug": ["oxazepam"], "dose": ["30"], "doses_per_day": ["3"], "view": ["handout"], "plan": [plan]}
        for plan in ("native", "switch")]
    handout = client.get("/taper-plan" + links[0].replace("&amp;", "&")).get_data(as_text=True)
    assert "<h1>Your plan for lowering oxazepam</h1>" in handout
    assert "Once a day: 1 capsule (15 mg) of oxazepam 15 MG Oral Capsule" in handout
    assert "Pauses are fine." in handout and "Do not stop suddenly" in handout

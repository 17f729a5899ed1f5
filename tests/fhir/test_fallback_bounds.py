"""A hostile (or merely enormous) FHIR server cannot make one fallback call take a worker's memory or CPU: each
page, each key and each call read a bounded number of bytes and entries, and the search stops asking for pages
once a bound is reached (README "Security": FHIR fallback)."""

from __future__ import annotations

import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.fhir.client import MAX_ENTRIES_PER_KEY, MAX_ENTRIES_PER_PAGE
from tests.conftest import HookCalls
from tests.fhir.test_fhir_hostile_server import Start, hook_call
from tests.utils.fhir import DIAZEPAM_5_MG_TABLET, diazepam_taper_15_to_12, medication_request, searchset
from tests.utils.fhir_server import send_json

ROOT = Path(__file__).resolve().parents[2]


def orders(count: int, prefix: str = "h") -> list[dict[str, Any]]:
    return [medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=2, status="completed", id=f"{prefix}{i}",
                               authored_on=f"{2010 + i % 15}-{1 + i % 12:02d}-{1 + i % 27:02d}")
            for i in range(count)]


class EndlessPages:
    """Every search answers a page of ``per_page`` orders and a ``next`` link to one more page, forever."""

    def __init__(self, base: str, per_page: int) -> None:
        self.base, self.requests = base, 0
        self._page = searchset(*diazepam_taper_15_to_12(), *orders(per_page - 3))

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests += 1
        next_page = f"{self.base}/MedicationRequest?page={self.requests}"
        page = dict(self._page, link=[{"relation": "next", "url": next_page}])
        send_json(handler, page)


def test_endless_pages_stop_at_the_entry_bound_and_the_cards_say_so(fhir_server: Start, client: FlaskClient) -> None:
    holder: dict[str, EndlessPages] = {}
    url = fhir_server(lambda handler: holder["server"](handler))
    holder["server"] = server = EndlessPages(url, MAX_ENTRIES_PER_PAGE)
    response = HookCalls(client).post(hook_call(url, "medicationRequests"))
    assert response.status_code == 200
    # 1,000 entries a page, 3,000 a key: the third page ends the search (the page bound, 10, is never reached)
    assert server.requests == MAX_ENTRIES_PER_KEY // MAX_ENTRIES_PER_PAGE == 3
    details = " ".join(card["detail"] for card in response.get_json()["cards"])
    assert "medicationRequests: more pages than the service reads; older history may be missing" in details


def test_a_page_with_more_entries_than_the_page_bound_is_cut_and_said(fhir_server: Start, client: FlaskClient) -> None:
    requests: list[str] = []

    def one_big_page(handler: BaseHTTPRequestHandler) -> None:
        requests.append(handler.path)
        send_json(handler, searchset(*diazepam_taper_15_to_12(), *orders(MAX_ENTRIES_PER_PAGE + 500)))

    response = HookCalls(client).post(hook_call(fhir_server(one_big_page), "medicationRequests"))
    assert response.status_code == 200 and len(requests) == 1
    details = " ".join(card["detail"] for card in response.get_json()["cards"])
    assert "medicationRequests: more pages than the service reads; older history may be missing" in details


def test_a_page_over_two_mebibytes_is_not_read(fhir_server: Start, client: FlaskClient) -> None:
    """A page that alone outweighs a whole hook request (2 MiB) fails its key: 412, not a worker's memory."""
    big = json.dumps(searchset(*orders(1))).encode()
    big = big[:-1] + b', "padding": "' + b"x" * (2 * 1024 * 1024) + b'"}'

    response = HookCalls(client).post(hook_call(fhir_server(lambda h: send_json(h, big)), "medicationRequests"))
    assert response.status_code == 412
    assert "medicationRequests" in response.get_json()["issue"][0]["diagnostics"]


CHILD = """
import json, resource, sys, time
from cds_service import create_app
from tests.conftest import HookCalls
from tests.fhir.test_fallback_bounds import orders
from tests.fhir.test_fhir_hostile_server import hook_call
from tests.utils.fhir import patient, searchset
from tests.utils.fhir_server import base_url, send_json, start_fhir_server

# pages of just under 2 MiB of benzodiazepine orders, each with a next link: the heaviest a server may send
page = searchset(*orders(int(sys.argv[1])))
page["link"] = [{"relation": "next", "url": "NEXT"}]
payload = json.dumps(page).encode()
def answer(handler):
    if handler.path.startswith("/fhir/Patient/"):
        send_json(handler, patient())
    else:
        send_json(handler, payload.replace(b"NEXT", (url + handler.path.split("?")[0].removeprefix("/fhir")
                                                     + "?page=2").encode()))
server = start_fhir_server(answer, keep_alive=True)
url = base_url(server)
client = app = create_app({"auth": "off", "database_url": sys.argv[2]}).test_client()
keys = ("patient", "medicationRequests", "medicationDispenses", "medicationStatements", "conditions", "observations")
assert client.post("/cds-services/bzd-taper-order-sign", json=hook_call(url, "conditions")).status_code == 200
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu = time.process_time()
response = client.post("/cds-services/bzd-taper-order-sign", json=hook_call(url, *keys))
print(json.dumps({"status": response.status_code, "cpu_s": time.process_time() - cpu,
                  "rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024,
                  "payload": len(payload)}))
"""


@pytest.mark.parametrize("per_page", [1_000, 3_000])
def test_a_call_against_a_server_of_endless_heavy_pages_stays_under_256_mb_and_one_second_of_cpu(
        per_page: int, database_url: str) -> None:
    """Every key missing, every search answering pages of orders forever (0.6 MiB pages of 1,000 entries, or
    1.8 MiB ones of 3,000): before the bounds a call read 60 such pages — up to 110 MB of JSON, seconds of CPU
    and hundreds of MB. Now each key reads its first page and the entry bounds and the call's 4 MiB budget end
    the searches early: answered (with the note), within the bounds."""
    completed = subprocess.run([sys.executable, "-c", CHILD, str(per_page), database_url], capture_output=True,
                               text=True, cwd=ROOT, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    assert measured["status"] == 200, measured
    assert measured["cpu_s"] < 1.0, measured
    assert measured["rss_mb"] < 256, measured

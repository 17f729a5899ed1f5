"""A mock FHIR server for the fallback cases (d) and (f): ``python -m benchmarks.mock_fhir PORT``.

It serves one patient's record — the prefetch object in the JSON file named by ``BENCH_RECORD`` — and answers
each read or search after ``BENCH_FHIR_DELAY_S`` seconds (default 0.005), as a remote EHR would: ``GET
/fhir/Patient/<id>``, ``GET /fhir/<type>?patient=...`` for the five searches of the prefetch templates, and,
when ``BENCH_FHIR_PAGE_SIZE`` is set, each searchset split into pages of that many entries chained by absolute
``next`` links (``...&_page=N``) under the base URL the request named, as a server that pages does.

Why not a Flask app under gunicorn, as before: the mock stands in for a server on ANOTHER machine, yet here it
shares the service's two cores, and at 100 fallback calls a second it must answer 600 searches a second. Under
gunicorn every search cost a worker thread, Flask's routing and a fresh serialisation; that CPU was taken from
the service being measured. So this mock is one asyncio process speaking just enough HTTP/1.1 (keep-alive,
``Content-Length`` bodies serialised once at start), and it waits with ``asyncio.sleep``, which burns no CPU
while a search is "running". What it costs still counts against the machine, never against the service's
"CPU ms" column, which only reads the service's workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

SEARCHES = {"MedicationRequest": "medicationRequests", "MedicationDispense": "medicationDispenses",
            "MedicationStatement": "medicationStatements", "Condition": "conditions", "Observation": "observations"}
BASE_PLACEHOLDER = "http://mock-fhir.invalid/fhir"
"""Written into pre-serialised ``next`` links, replaced by the base URL of the request's ``Host``."""


def response(status: str, body: bytes, content_type: str = "application/fhir+json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


def pages(kind: str, bundle: dict[str, Any], page_size: int) -> list[bytes]:
    """The searchset as served: one page, or pages of ``page_size`` entries with ``next`` links."""
    entries = bundle.get("entry", [])
    if page_size <= 0 or len(entries) <= page_size:
        return [json.dumps(bundle).encode()]
    chunks = [entries[start:start + page_size] for start in range(0, len(entries), page_size)]
    served = []
    for number, chunk in enumerate(chunks, start=1):
        page = {**bundle, "entry": chunk}
        if number < len(chunks):
            page["link"] = [{"relation": "next", "url": f"{BASE_PLACEHOLDER}/{kind}?patient=p&_page={number + 1}"}]
        served.append(json.dumps(page).encode())
    return served


class MockFhir:
    def __init__(self, record: dict[str, Any], delay_s: float, page_size: int = 0) -> None:
        self.delay_s = delay_s
        self.patient = response("200 OK", json.dumps(record["patient"]).encode())
        self.searches = {kind: pages(kind, record[key], page_size) for kind, key in SEARCHES.items()}
        self.not_found = response("404 Not Found", b'{"resourceType": "OperationOutcome", "issue": []}')

    def answer(self, target: str, host: str) -> bytes:
        parts = urlsplit(target)
        if parts.path == "/healthz":
            return response("200 OK", b'{"status": "ok"}', "application/json")
        kind, _, ident = parts.path.removeprefix("/fhir/").partition("/")
        if kind == "Patient" and ident:
            return self.patient
        query = parse_qs(parts.query)
        served = self.searches.get(kind) if not ident and query.get("patient") else None
        number = int(query.get("_page", ["1"])[0])
        if served is None or not 1 <= number <= len(served):
            return self.not_found
        body = served[number - 1]
        if len(served) > 1:
            body = body.replace(BASE_PLACEHOLDER.encode(), f"http://{host}/fhir".encode())
        return response("200 OK", body)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *header_lines = head.split("\r\n")
                method, target, version = request_line.split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
                if method != "GET":
                    writer.write(response("405 Method Not Allowed", b"{}"))
                    break
                if target != "/healthz":
                    await asyncio.sleep(self.delay_s)
                writer.write(self.answer(target, headers.get("host", "")))
                await writer.drain()
                if version != "HTTP/1.1" or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def main(port: int) -> None:
    with open(os.environ["BENCH_RECORD"], encoding="utf-8") as handle:
        record = json.load(handle)
    mock = MockFhir(record, float(os.environ.get("BENCH_FHIR_DELAY_S", "0.005")),
                    int(os.environ.get("BENCH_FHIR_PAGE_SIZE", "0")))
    server = await asyncio.start_server(mock.serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

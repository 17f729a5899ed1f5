"""A real local FHIR server on 127.0.0.1 whose every answer is a test's ``Behaviour``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class FhirTestServer(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0
    """TCP connections accepted so far (a keep-alive client reuses one for several requests)."""

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1  # called by the one serving thread only
        super().process_request(request, client_address)


def start_fhir_server(behaviour: Behaviour, keep_alive: bool = False) -> FhirTestServer:
    """Serving at ``http://127.0.0.1:{server.server_address[1]}/fhir`` until ``shutdown()``; HTTP/1.1 with
    ``keep_alive`` (then every answer must carry its Content-Length), else HTTP/1.0: one request a connection."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_GET(self) -> None:
            try:
                behaviour(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = FhirTestServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def slow_drip(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.end_headers()
    handler.wfile.write(b'{"resourceType": "Bundle", "entry": [')
    for _ in range(100):  # one byte every 0.2 s: each read beats a per-read timeout, the total must not
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.2)


def send_json(handler: BaseHTTPRequestHandler, resource: Any, status: int = 200) -> None:
    payload = resource if isinstance(resource, bytes) else json.dumps(resource).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


@dataclass
class Seen:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    client_port: int
    """The client's end of the TCP connection: requests with the same port came on the same connection."""


@dataclass
class FhirRoutes:
    """A behaviour answering ``GET /fhir/<path>`` (query ignored) with what :meth:`add` registered for the path,
    else 404; it remembers every request."""

    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def add(self, path: str, resource: Any, status: int = 200) -> None:
        self.answers[path] = (status, resource)

    def paths(self, path: str | None = None) -> list[str]:
        """The paths (with their queries) requested, all or only those of ``path``."""
        return [s.path for s in self.seen if path is None or s.path.split("?")[0] == f"/fhir/{path}"]

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        self.seen.append(Seen(handler.path, dict(handler.headers), handler.client_address[1]))
        status, resource = self.answers.get(handler.path.split("?")[0].removeprefix("/fhir/"),
                                            (404, {"resourceType": "OperationOutcome", "issue": []}))
        send_json(handler, resource, status)


def base_url(server: FhirTestServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/fhir"

"""The ``fhir_server`` fixture: ``fhir_server(behaviour)`` starts a local FHIR server and gives its base URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer

import pytest

from tests.utils.fhir_server import Behaviour, start_fhir_server


@pytest.fixture
def fhir_server() -> Iterator[Callable[[Behaviour], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(behaviour: Behaviour) -> str:
        servers.append(start_fhir_server(behaviour))
        return f"http://127.0.0.1:{servers[-1].server_address[1]}/fhir"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()

"""Local FHIR servers: ``fhir_server(behaviour)`` starts one and gives its base URL; ``fhir_test_server(behaviour,
keep_alive=True)`` gives the server itself (its ``connections`` count)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.utils.fhir_server import Behaviour, FhirTestServer, base_url, start_fhir_server


@pytest.fixture
def fhir_test_server() -> Iterator[Callable[..., FhirTestServer]]:
    servers: list[FhirTestServer] = []

    def start(behaviour: Behaviour, keep_alive: bool = False) -> FhirTestServer:
        servers.append(start_fhir_server(behaviour, keep_alive))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fhir_server(fhir_test_server: Callable[..., FhirTestServer]) -> Callable[[Behaviour], str]:
    return lambda behaviour: base_url(fhir_test_server(behaviour))

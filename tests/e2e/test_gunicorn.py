"""The real server: gunicorn with the deployment config, called over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.utils.scenarios import request as scenario_request
from tests.utils.server import ROOT, gunicorn


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("data")
    with gunicorn({"CDS_AUTH": "optional", "CDS_TRUSTED_ISSUERS": str(ROOT / "dev/trusted-issuers.dev.json"),
                   "CDS_DATA_DIR": str(data_dir), "DATABASE_URL": f"sqlite:///{data_dir}/cds.db"}) as base:
        yield base


def test_discovery_over_http(server: str) -> None:
    response = requests.get(f"{server}/cds-services", timeout=5)
    assert response.status_code == 200
    assert {s["id"] for s in response.json()["services"]} == {
        "bzd-taper-order-sign", "bzd-taper-order-select", "bzd-taper-medication-prescribe"}
    assert response.headers["X-Request-ID"]


def test_baclofen_card_over_http(server: str) -> None:
    body = scenario_request("baclofen-adjunct-during-diazepam-taper")
    response = requests.post(f"{server}/cds-services/bzd-taper-order-sign", json=body, timeout=10)
    assert response.status_code == 200
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"]] == ["baclofen-adjunct"]


def test_malformed_body_over_http_is_400(server: str) -> None:
    response = requests.post(f"{server}/cds-services/bzd-taper-order-sign", data="{",
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_metrics_show_latency_per_service_and_cards_by_type(server: str) -> None:
    body = scenario_request("s04-lorazepam-stopped-abruptly")
    for _ in range(3):
        assert requests.post(f"{server}/cds-services/bzd-taper-order-sign", json=body, timeout=10).status_code == 200
    text = requests.get(f"{server}/metrics", timeout=5).text
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
             if line and not line.startswith("#")}
    assert lines['cds_cards_total{card_type="abrupt-discontinuation",indicator="critical"}'] == 3
    assert lines['cds_cards_total{card_type="long-term-rate",indicator="warning"}'] == 3
    assert lines['cds_request_duration_seconds_count{service="bzd-taper-order-sign"}'] >= 3

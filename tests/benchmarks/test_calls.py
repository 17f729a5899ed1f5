"""The benchmark's own helpers (benchmarks/calls.py): the benchmark itself runs by ``make bench``, never here,
but what it sends must be what the service accepts, or every figure it prints would measure 401s and 400s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.calls import ORDER_SELECT, ORDER_SIGN, Call, Issuer, interleave, session, write_thread_files
from cds_service.schemas.hook_request import load_hook_request
from cds_service.security.jwt_auth import TrustedIssuers, Untrusted, verify_client_jwt


def test_minted_tokens_verify_once_each_for_their_own_audience(tmp_path: Path) -> None:
    issuer = Issuer()
    trusted = TrustedIssuers.from_file(issuer.trust_file(tmp_path / "issuers.json"))
    seen: set[str] = set()

    def first_use(iss: str, jti: str, _expires: object) -> bool:
        fresh = (iss, jti) not in seen
        seen.add((iss, jti))
        return fresh

    sign, select = issuer.tokens(["http://127.0.0.1:1" + ORDER_SIGN, "http://127.0.0.1:1" + ORDER_SELECT])
    claims = verify_client_jwt(f"Bearer {sign}", "http://127.0.0.1:1" + ORDER_SIGN, trusted, first_use)
    assert claims["iss"] == "https://ehr.bench.example" and claims["exp"] - claims["iat"] == 300
    with pytest.raises(Untrusted):  # the same token again: its jti is spent
        verify_client_jwt(f"Bearer {sign}", "http://127.0.0.1:1" + ORDER_SIGN, trusted, first_use)
    with pytest.raises(Untrusted):  # a token for order-select is refused by order-sign
        verify_client_jwt(f"Bearer {select}", "http://127.0.0.1:1" + ORDER_SIGN, trusted, first_use)


def test_a_session_is_three_valid_order_selects_then_the_order_sign_of_the_last_draft() -> None:
    calls = session(3)
    assert [call.path for call in calls] == [ORDER_SELECT] * 3 + [ORDER_SIGN]
    bodies = [load_hook_request(json.loads(call.body), hook)
              for call, hook in zip(calls, ["order-select"] * 3 + ["order-sign"], strict=True)]
    assert {body["context"]["patientId"] for body in bodies} == {"bench-3"}
    record = bodies[0]["prefetch"]
    assert sum(len(record[key]["entry"]) for key in ("medicationRequests", "conditions", "observations")) == 100
    drafts = [body["context"]["draftOrders"] for body in bodies]
    assert drafts[2] == drafts[3] != drafts[1] != drafts[0]


def test_each_thread_keeps_its_sessions_in_order_and_gets_a_token_per_request(tmp_path: Path) -> None:
    sessions = [[Call("POST", f"/s{n}/{step}") for step in range(4)] for n in range(6)]
    per_thread = interleave(sessions, threads=2, per_thread=2)
    assert [call.path for call in per_thread[0][:4]] == ["/s0/0", "/s2/0", "/s0/1", "/s2/1"]
    assert sorted(c.path for thread in per_thread for c in thread) == sorted(c.path for s in sessions for c in s)
    tokens = write_thread_files(tmp_path / "load", per_thread, "http://h", Issuer(), requests_per_thread=30)
    assert tokens is not None
    lines = Path(f"{tokens}.1").read_text().split()
    assert len(lines) == 30 and len(set(lines)) == 30
    assert Path(f"{tmp_path}/load.calls.1").read_text().splitlines()[0] == "POST /s1/0\t"


def test_every_benchmark_body_names_the_rotating_patient_once_as_the_hook_s_patient() -> None:
    """calls.lua replaces the first ROTATING of a body in each request: a second one would stay, and the card log
    would see one patient again."""
    from benchmarks.calls import ROTATING, history_request, order_sign

    for body in (order_sign(10), history_request(20)):
        assert json.dumps(body).count(ROTATING) == 1
        assert body["context"]["patientId"] == ROTATING


def test_several_ehrs_take_turns_and_each_token_verifies_for_its_own_issuer(tmp_path: Path) -> None:
    issuer = Issuer(tenants=3)
    trusted = TrustedIssuers.from_file(issuer.trust_file(tmp_path / "issuers.json"))
    tokens = issuer.tokens(["http://127.0.0.1:1" + ORDER_SIGN] * 4)
    seen = [verify_client_jwt(f"Bearer {token}", "http://127.0.0.1:1" + ORDER_SIGN, trusted,
                              lambda *_: True)["iss"] for token in tokens]
    assert seen == [*issuer.names, issuer.names[0]] and len(set(issuer.names)) == 3

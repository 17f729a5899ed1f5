"""Scaled out as a hospital runs it: two service instances (separate gunicorn masters, like two Kubernetes
replicas) behind the shipped ``deploy/nginx.conf`` on one PostgreSQL. A bounded mixed load — hook calls,
feedback, analytics and replayed tokens from two EHRs — goes through the proxy while one instance is killed
with SIGKILL and restarted. Then:

- no replayed token was accepted, by either instance, before or after the restart;
- every feedback item acknowledged (200) is stored exactly once (each was posted twice);
- both instances answer the same snoozes and the same analytics;
- no 5xx but the killed instance's calls in flight at the kill (nginx's 502).

Skipped only where PostgreSQL or nginx is not installed (``.ci/run`` installs both from Debian).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, func, select

from cds_service.feedback.models import card_log, feedback
from tests.conftest import HookCalls
from tests.utils.ehr import token, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.nginx import NGINX, nginx_in_front_of
from tests.utils.server import ROOT, free_port, wait_until_ready

ISSUERS = ("https://ehr-a.example", "https://ehr-b.example")
SIGN = "/cds-services/bzd-taper-order-sign"
FEEDBACK = f"{SIGN}/feedback"
SYSTEM = "urn:bzd-taper-cds:override-reason"
CLIENT_THREADS = 6
LOAD_S = 7.0
KILL_AT_S = 2.0


class Instance:
    """One service instance: a gunicorn master and its workers in their own process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env, "CDS_BIND": f"127.0.0.1:{self.port}", "CDS_WORKERS": "2",
                     "CDS_THREADS": "4"}
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "deploy/gunicorn.conf.py"),
                 "cds_service:create_app()"], cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def wait_ready(self) -> None:
        assert self.process is not None
        if not wait_until_ready(f"{self.url}/readyz", process=self.process):
            raise RuntimeError(f"instance {self.url} not ready:\n" + self._log.read_text(errors="replace")[-3000:])

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once, as when a node or container dies."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Call:
    kind: str
    started: float
    ended: float
    status: int


@dataclass
class Load:
    """What the load's clients did and saw."""

    proxy: str
    calls: list[Call] = field(default_factory=list)
    cards: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    """card uuid → (issuer, patient, snoozing) of every card whose feedback was acknowledged."""
    replayable: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(path, token, body) of calls answered 200: their tokens were used."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, session: requests.Session, kind: str, method: str, path: str, issuer: str,
             body: dict[str, Any] | None = None, bearer: str | None = None) -> requests.Response | None:
        bearer = bearer or token(issuer, self.proxy + path)
        started = time.monotonic()
        try:
            response = session.request(method, self.proxy + path, json=body, timeout=30,
                                       headers={"Authorization": f"Bearer {bearer}"})
        except requests.RequestException:
            with self.lock:
                self.calls.append(Call(kind, started, time.monotonic(), 599))
            return None
        with self.lock:
            self.calls.append(Call(kind, started, time.monotonic(), response.status_code))
            if response.status_code == 200 and kind != "replay" and body is not None:
                self.replayable.append((path, bearer, body))
        return response

    def client(self, number: int, stop: threading.Event) -> None:
        issuer = ISSUERS[number % 2]
        session = requests.Session()
        chooser = random.Random(number)
        step = 0
        while not stop.is_set():
            step += 1
            patient = f"t{number}-p{step}"
            body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id=patient)
            answer = self.send(session, "hook", "POST", SIGN, issuer, body)
            if answer is not None and answer.status_code == 200:
                [card] = answer.json()["cards"]
                snoozing = step % 2 == 0
                item = {"card": card["uuid"], "outcome": "overridden",
                        "outcomeTimestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        "overrideReason": {"reason": {"system": SYSTEM,
                                                      "code": "patient-specific-plan" if snoozing else "will-act"}}}
                acknowledged = [self.send(session, "feedback", "POST", FEEDBACK, issuer, {"feedback": [item]})
                                for _ in range(2)]  # the same item twice: nginx may hand each to another instance
                if any(a is not None and a.status_code == 200 for a in acknowledged):
                    with self.lock:
                        self.cards[card["uuid"]] = (issuer, patient, snoozing)
            if step % 4 == 0:
                self.send(session, "analytics", "GET", "/analytics", issuer)
            if step % 3 == 0 and self.replayable:
                with self.lock:
                    path, used, replayed = chooser.choice(self.replayable)
                self.send(session, "replay", "POST", path, issuer, replayed, bearer=used)


def test_two_instances_behind_nginx_on_one_postgresql_survive_a_sigkill(fresh_database: str,
                                                                         tmp_path: Path) -> None:
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed (Debian package nginx); .ci/run installs it")
    proxy_port = free_port()
    proxy = f"http://127.0.0.1:{proxy_port}"
    env = {"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": str(trust_file(tmp_path, {i: {} for i in ISSUERS})),
           "CDS_PATIENT_HASH_KEY": "multi-instance-" + "0123456789abcdef" * 2, "DATABASE_URL": fresh_database,
           "CDS_PUBLIC_BASE_URL": proxy, "PROMETHEUS_MULTIPROC_DIR": ""}
    logs = Path(tempfile.mkdtemp(prefix="bzd-instances-"))
    instances = [Instance({**env, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix=f"bzd-metrics-{n}-")},
                          logs / f"instance-{n}.log") for n in range(2)]
    try:
        for instance in instances:  # at once, as replicas start: both apply the schema to the empty database
            instance.start()
        for instance in instances:
            instance.wait_ready()
        with nginx_in_front_of(*(i.url.removeprefix("http://") for i in instances), port=proxy_port) as base:
            assert base == proxy
            load = Load(proxy)
            stop = threading.Event()
            clients = [threading.Thread(target=load.client, args=(n, stop)) for n in range(CLIENT_THREADS)]
            began = time.monotonic()
            for thread in clients:
                thread.start()
            time.sleep(KILL_AT_S)
            killed_at = time.monotonic()
            instances[0].kill()
            time.sleep(0.5)
            instances[0].start()
            instances[0].wait_ready()
            time.sleep(max(0.0, LOAD_S - (time.monotonic() - began)))
            stop.set()
            for thread in clients:
                thread.join(60)
            time.sleep(1.0)  # every surviving worker has written its card log (every 0.25 s)
            check_after_the_load(load, instances, killed_at, fresh_database)
    finally:
        for instance in instances:
            instance.stop()
    output = "".join(path.read_text(errors="replace") for path in logs.glob("*.log"))
    assert "Traceback" not in output and "WORKER TIMEOUT" not in output, output[-5000:]


def check_after_the_load(load: Load, instances: list[Instance], killed_at: float, database_url: str) -> None:
    statuses = Counter((call.kind, call.status) for call in load.calls)
    assert statuses[("hook", 200)] >= 20 and statuses[("feedback", 200)] >= 20, statuses
    assert statuses[("analytics", 200)] >= 4 and statuses[("replay", 401)] >= 5, statuses
    # No replayed token accepted, by either instance (nginx hands each call to one of them).
    assert statuses[("replay", 200)] == 0, statuses
    # No 5xx (or dropped connection) but calls in flight when the instance was killed. Such a call may also be
    # a 401: nginx hands a call the killed instance did not answer to the other one, and the killed instance
    # may already have recorded its token's jti — the retry is then a replay, and refused as one.
    for call in load.calls:
        in_flight = call.started <= killed_at <= call.ended
        if call.status >= 500 or (call.status == 401 and call.kind != "replay"):
            # 599: the connection dropped (the test's own mark for a transport error), as nginx may when the
            # upstream it was reading from dies mid-answer
            assert in_flight and call.status in (401, 502, 504, 599), (call, killed_at, statuses)
        else:
            assert call.status == (401 if call.kind == "replay" else 200), (call, statuses)
    # Replays after the restart, at each instance directly: refused by both.
    for path, used, body in load.replayable[::7]:
        for instance in instances:
            replayed = requests.post(instance.url + path, json=body, timeout=30,
                                     headers={"Authorization": f"Bearer {used}"})
            assert replayed.status_code == 401, (instance.url, path)
    # Every acknowledged feedback item stored exactly once (each was posted twice).
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = {str(uuid): int(count) for uuid, count in connection.execute(
            select(feedback.c.card_uuid, func.count()).group_by(feedback.c.card_uuid))}
        logged = {str(uuid) for (uuid,) in connection.execute(select(card_log.c.card_uuid))}
    engine.dispose()
    assert load.cards and all(rows.get(card) == 1 for card in load.cards), \
        {card: rows.get(card) for card in load.cards if rows.get(card) != 1}
    # The same snoozes whichever instance answers: a snoozing override silences its patient's card when the
    # card's log row was written (a row the killed instance still had queued is lost: not snoozed, on both).
    for card, (issuer, patient, snoozing) in sorted(load.cards.items())[:24]:
        body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id=patient)
        seen = []
        for instance in instances:
            answer = requests.post(instance.url + SIGN, json=body, timeout=30,
                                   headers={"Authorization": f"Bearer {token(issuer, load.proxy + SIGN)}"})
            assert answer.status_code == 200
            seen.append(len(answer.json()["cards"]))
        expected = 0 if snoozing and card in logged else 1
        assert seen == [expected, expected], (card, snoozing, card in logged, seen)
    time.sleep(1.0)  # the cards just shown are logged by every worker before analytics are compared
    for issuer in ISSUERS:
        reports = []
        for instance in instances:
            answer = requests.get(f"{instance.url}/analytics", timeout=30,
                                  headers={"Authorization": f"Bearer {token(issuer, load.proxy + '/analytics')}"})
            assert answer.status_code == 200
            report = answer.json()
            report.pop("generated_at")
            reports.append(report)
        assert reports[0] == reports[1], issuer
        baclofen = reports[0]["card_types"]["baclofen-adjunct"]
        mine = [card for card, (owner, _p, _s) in load.cards.items() if owner == issuer and card in logged]
        assert baclofen["overridden"] == len(mine), (baclofen, len(mine))

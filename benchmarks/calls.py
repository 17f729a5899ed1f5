"""What the benchmark sends: records, hook calls, client tokens, and the files ``calls.lua`` reads in wrk.

Each wrk thread reads its own pair of files, so that no token is sent twice and one session's calls stay in
one thread: ``<prefix>.<n>`` holds one call a line (``METHOD PATH<TAB>BODY``) and, when the service verifies
client JWTs, ``<tokens>.<n>`` holds one token a line — the i-th request of thread n carries the i-th token and
the call ``i mod len(calls)``. A body whose ``context.patientId`` is :data:`ROTATING` gets, in each request, a
patient id of that request alone, so no benchmark call pays for the card log of the calls before it.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.utils.fhir import (  # noqa: E402
    BACLOFEN_5_MG_TABLET,
    DIAZEPAM_2_MG_TABLET,
    DIAZEPAM_5_MG_TABLET,
    baclofen_draft,
    condition,
    diazepam_taper_15_to_12,
    medication_request,
    patient,
    searchset,
)

ORDER_SIGN = "/cds-services/bzd-taper-order-sign"
ORDER_SELECT = "/cds-services/bzd-taper-order-select"
ISSUER = "https://ehr.bench.example"
KID = "bench-es384"
ROTATING = "bench-rotating-patient"
"""The patient id that ``calls.lua`` replaces by one of its own in every request: the service keys the card
log and the snoozes on ``context.patientId`` (the record's resources may keep ``p1``), so each call is a new
patient's. One patient for every call made the snooze read of the last cases pay for thousands of cards
logged by the earlier ones."""
UNRELATED = [("617314", "atorvastatin 10 MG Oral Tablet"), ("197361", "amlodipine 5 MG Oral Tablet"),
             ("861007", "metformin hydrochloride 500 MG Oral Tablet"), ("314076", "lisinopril 10 MG Oral Tablet"),
             ("312940", "sertraline 50 MG Oral Tablet"), ("198211", "simvastatin 40 MG Oral Tablet")]
CONDITIONS = [("38341003", "Hypertension"), ("44054006", "Type 2 diabetes"), ("197480006", "Anxiety disorder"),
              ("55822004", "Hyperlipidemia"), ("195967001", "Asthma")]
OBSERVATIONS = [("8480-6", "Systolic blood pressure", "mm[Hg]"), ("4548-4", "Hemoglobin A1c", "%"),
                ("2093-3", "Cholesterol", "mg/dL"), ("29463-7", "Body weight", "kg"), ("2160-0", "Creatinine", "mg/dL")]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: str = ""

    def line(self) -> str:
        return f"{self.method} {self.path}\t{self.body}"


def prefetch(size: int, seed: int = 7, patient_id: str = "p1") -> dict[str, Any]:
    """A prefetched record of ``size`` history resources — the diazepam taper of the tests, then mostly unrelated
    medications, conditions and observations."""
    rnd = random.Random(seed)
    taper = [{**order, "subject": {"reference": f"Patient/{patient_id}"}} for order in diazepam_taper_15_to_12()]
    meds, conditions, observations = list(taper), [], []
    while len(meds) + len(conditions) + len(observations) < size:
        kind = rnd.random()
        if kind < 0.5:
            authored = f"20{rnd.randint(20, 25)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}"
            meds.append(medication_request(rnd.choice(UNRELATED), tablets=1, per_day=rnd.randint(1, 2),
                                           authored_on=authored, status=rnd.choice(["active", "completed", "stopped"]),
                                           patient=patient_id))
        elif kind < 0.75:
            code, text = rnd.choice(CONDITIONS)
            conditions.append(condition(code, text, patient=patient_id))
        else:
            code, text, unit = rnd.choice(OBSERVATIONS)
            observations.append({"resourceType": "Observation", "id": f"obs-{uuid.uuid4().hex[:8]}", "status": "final",
                                 "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": text}]},
                                 "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": "2026-02-01",
                                 "valueQuantity": {"value": round(rnd.uniform(1, 150), 1), "unit": unit}})
    return {"patient": patient(id=patient_id), "medicationRequests": searchset(*meds),
            "medicationDispenses": searchset(), "medicationStatements": searchset(),
            "conditions": searchset(*conditions), "observations": searchset(*observations)}


def hook_request(hook: str, drafts: list[dict[str, Any]], record: dict[str, Any] | None,
                 patient_id: str = "p1") -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/1", "patientId": patient_id,
                               "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                               "entry": [{"resource": d} for d in drafts]}}
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{d['id']}" for d in drafts]
    body: dict[str, Any] = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context}
    if record is not None:
        body["prefetch"] = record
    return body


def order_sign(size: int, patient_id: str = ROTATING) -> dict[str, Any]:
    """An order-sign of a baclofen draft for a patient in a diazepam taper (fires baclofen-adjunct)."""
    return hook_request("order-sign", [baclofen_draft()], prefetch(size), patient_id)


def session(index: int, size: int = 100) -> list[Call]:
    """One patient's calls as an EHR makes them: order-select three times while the prescriber edits the
    baclofen draft (drug, then dose, then frequency), then order-sign of the final draft."""
    patient_id = f"bench-{index}"
    record = prefetch(size, seed=index, patient_id=patient_id)
    first = {**baclofen_draft(), "subject": {"reference": f"Patient/{patient_id}"}}
    second = {**first, "medicationCodeableConcept": {"coding": [{
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": BACLOFEN_5_MG_TABLET[0],
        "display": BACLOFEN_5_MG_TABLET[1]}]}}
    third = json.loads(json.dumps(second))
    third["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = 2
    calls = [Call("POST", ORDER_SELECT, json.dumps(hook_request("order-select", [draft], record, patient_id)))
             for draft in (first, second, third)]
    calls.append(Call("POST", ORDER_SIGN, json.dumps(hook_request("order-sign", [third], record, patient_id))))
    return calls


def interleave(sessions: Sequence[list[Call]], threads: int, per_thread: int) -> list[list[Call]]:
    """Sessions spread over the wrk threads; within a thread, ``per_thread`` sessions (one per connection) are
    in flight at a time, each call of a session following the one before it."""
    lists: list[list[Call]] = [[] for _ in range(threads)]
    for thread in range(threads):
        mine = list(sessions[thread::threads])
        for start in range(0, len(mine), per_thread):
            group = mine[start:start + per_thread]
            for step in range(max(len(s) for s in group)):
                lists[thread].extend(s[step] for s in group if step < len(s))
    return lists


def history_request(orders: int, patient_id: str = ROTATING) -> dict[str, Any]:
    """An order-sign of a diazepam draft after ``orders`` earlier diazepam orders, one every two days, the dose
    moving between 10 and 12 mg/day (each order starts a new step)."""
    draft_day = date(2026, 3, 16)
    history = []
    for n in range(orders):
        authored = (draft_day - timedelta(days=2 * (orders - n))).isoformat()
        product, per_day = (DIAZEPAM_5_MG_TABLET, 2) if n % 2 else (DIAZEPAM_2_MG_TABLET, 6)
        history.append(medication_request(product, tablets=1, per_day=per_day, authored_on=authored,
                                          status="active" if n == orders - 1 else "stopped", id=f"dzp-{n}"))
    draft = medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=2, authored_on="2026-03-16", status="draft",
                               id="dzp-draft")
    record = {"patient": patient(), "medicationRequests": searchset(*history), "medicationDispenses": searchset(),
              "medicationStatements": searchset(), "conditions": searchset(), "observations": searchset()}
    return hook_request("order-sign", [draft], record, patient_id)


class Issuer:
    """Trusted EHRs: an ES384 key, their JWKS in a CDS_TRUSTED_ISSUERS file, and tokens with unique ``jti``s.

    ``tenants`` EHRs (JWT issuers, :data:`ISSUER` alone by default) take turns, token by token: the service
    gives each client at most half of a worker's threads for FHIR fallback calls, so the fallback cases measure
    the service serving several EHRs, as it does in production, not one EHR against its own share."""

    def __init__(self, tenants: int = 1) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.names = [ISSUER] if tenants == 1 else [f"https://ehr{n}.bench.example" for n in range(tenants)]

    def trust_file(self, path: Path) -> Path:
        jwk = {**json.loads(ECAlgorithm.to_jwk(self.key.public_key())), "kid": KID, "alg": "ES384", "use": "sig"}
        path.write_text(json.dumps({name: {"jwks": {"keys": [jwk]}} for name in self.names}))
        return path

    def tokens(self, audiences: Sequence[str]) -> list[str]:
        """One token per audience (the URL each call goes to), valid for five minutes."""
        now = int(time.time())
        headers = {"kid": KID, "typ": "JWT"}
        return [jwt.encode({"iss": self.names[n % len(self.names)], "aud": audience, "iat": now, "exp": now + 300,
                            "jti": uuid.uuid4().hex}, self.key, algorithm="ES384", headers=headers)
                for n, audience in enumerate(audiences)]


def production_environment(prefix: str) -> Issuer:
    """Set the environment of the production configuration for an app made in process: client JWTs required
    (ES384, trusted from a fresh file), a new SQLite database and metrics folder, logs at WARNING. Returns the
    issuer whose tokens the app accepts."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    issuer = Issuer()
    os.environ.update({"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": str(issuer.trust_file(work / "trust.json")),
                       "CDS_PATIENT_HASH_KEY": "bench-" + "0" * 58, "CDS_TAPER_PROFILE": "summary",
                       "CDS_LOG_LEVEL": "WARNING", "DATABASE_URL": f"sqlite:///{work}/cds.db",
                       "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-metrics-")})
    return issuer


def write_thread_files(prefix: Path, per_thread: Sequence[Sequence[Call]], base_url: str, issuer: Issuer | None,
                       requests_per_thread: int) -> Path | None:
    """Write ``<prefix>.calls.<n>`` for each wrk thread and, with an issuer, ``<prefix>.tokens.<n>``: one token
    for each of ``requests_per_thread`` requests cycling through the thread's calls. Returns the tokens prefix."""
    for n, calls in enumerate(per_thread):
        Path(f"{prefix}.calls.{n}").write_text("\n".join(call.line() for call in calls) + "\n")
        if issuer is not None:
            audiences = [base_url + calls[i % len(calls)].path for i in range(requests_per_thread)]
            Path(f"{prefix}.tokens.{n}").write_text("\n".join(issuer.tokens(audiences)) + "\n")
    return Path(f"{prefix}.tokens") if issuer is not None else None

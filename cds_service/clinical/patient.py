"""Patient facts the rules read: age and coded problems (docs/clinical-reference.md §6b, §3).

A condition counts as *current* unless it is refuted, entered in error, or its clinical status says it
is over (inactive, resolved, remission). History-type triggers (withdrawal seizures) count in any
clinical status (§6b "Withdrawal-seizure history": "any clinicalStatus").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from cds_service.clinical.medications import as_date
from cds_service.clinical.resources import Condition, Observation, Patient
from cds_service.clinical.terminology import Terminology
from cds_service.clinical.wording import measured, number, plain_text

_OVER = {"inactive", "resolved", "remission"}
_NOT_TRUE = {"refuted", "entered-in-error"}


def _status(concept: object) -> str | None:
    for coding in getattr(concept, "coding", None) or []:
        if coding.code:
            return str(coding.code)
    return None


@dataclass(frozen=True)
class CodedProblem:
    concept: str
    display: str
    """As the record names it, already plain text for a card (``display`` and ``codes``)."""
    codes: tuple[str, ...]
    current: bool
    recorded: date | None = None
    """When it was recorded or began (recordedDate, else onset)."""


@dataclass(frozen=True)
class PatientFacts:
    birth_date: date | None
    problems: tuple[CodedProblem, ...]
    sex: str | None = None

    def age_on(self, day: date) -> int | None:
        """Age in whole years on ``day``; ``None`` without a birth date (docs/clinical-reference.md §7k: said, not
        guessed)."""
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)

    def current(self, concept: str) -> tuple[CodedProblem, ...]:
        return tuple(p for p in self.problems if p.concept == concept and p.current)

    def ever(self, concept: str) -> tuple[CodedProblem, ...]:
        return tuple(p for p in self.problems if p.concept == concept)


def patient_facts(patient: Patient | None, conditions: Iterable[Condition], terminology: Terminology) -> PatientFacts:
    problems = []
    for condition in conditions:
        if _status(condition.verificationStatus) in _NOT_TRUE or condition.code is None:
            continue
        codings = list(condition.code.coding or [])
        codes = tuple(f"{c.code}" for c in codings if c.code)
        display = condition.code.text or next((c.display for c in codings if c.display), None) or ", ".join(codes)
        current = _status(condition.clinicalStatus) not in _OVER
        recorded = as_date(condition.recordedDate) or as_date(condition.onsetDateTime) or as_date(
            condition.onsetPeriod.start if condition.onsetPeriod else None)
        concepts = terminology.condition_concepts(codings)
        if "pregnancy-ended" in concepts:  # a delivery or abortion code (O80, O03) ends, not shows, a pregnancy
            concepts -= {"pregnancy"}
        for concept in sorted(concepts):
            problems.append(CodedProblem(concept, plain_text(display), tuple(plain_text(c, 20) for c in codes),
                                         current, recorded))
    return PatientFacts(
        birth_date=as_date(patient.birthDate) if patient else None,
        problems=tuple(problems),
        sex=patient.gender if patient else None,
    )


PREGNANCY_WINDOW_DAYS = 42 * 7
PREGNANCY_TEST_WINDOW_DAYS = 30
RENAL_WINDOW_DAYS = 180


@dataclass(frozen=True)
class Measurement:
    concept: str
    value: Fraction | None
    unit: str
    code: str | None
    """For coded results, what the answer means (``terminology/loinc.json`` answer sets): ``pregnant`` /
    ``not-pregnant`` (pregnancy status), ``positive`` / ``negative`` (HLA-B*15:02, pregnancy test); ``None`` when
    it cannot be read."""
    day: date | None


def measurements(observations: Iterable[Observation], terminology: Terminology) -> tuple[Measurement, ...]:
    """Observations the rules read, in canonical units (creatinine mg/dL, weight kg, eGFR mL/min/1.73 m²)."""
    found = []
    for observation in observations:
        if observation.status in ("entered-in-error", "cancelled") or observation.code is None:
            continue
        day = as_date(observation.effectiveDateTime) or as_date(
            observation.effectivePeriod.start if observation.effectivePeriod else None) or as_date(observation.issued)
        for concept in terminology.observation_concepts(observation.code.coding or []):
            value, unit = _quantity(observation)
            value, unit = _canonical(concept, value, unit)
            code = None
            if observation.valueCodeableConcept is not None:
                code = next((c.code for c in observation.valueCodeableConcept.coding or [] if c.code), None)
            answer = terminology.observation_answer(concept, code)
            if answer is None and terminology.reads_presence(concept):
                answer = _written_presence(observation)
            found.append(Measurement(concept, value, unit, answer, day))
    return tuple(sorted(found, key=lambda m: m.day or date.min))


def _written_presence(observation: Observation) -> str | None:
    """``positive``, ``negative`` or ``None`` (unreadable) for a present/absent result written as text, read the same
    for every such result (docs/clinical-reference.md §7j, §7j): a written pregnancy test as an HLA-B*15:02 one."""
    concept = observation.valueCodeableConcept
    text = (observation.valueString or (concept.text if concept is not None else None) or "").strip().lower()
    if text.startswith(("neg", "not detected", "absent", "not present")):
        return "negative"
    if text.startswith(("pos", "detected", "present")):
        return "positive"
    return None


def _quantity(observation: Observation) -> tuple[Fraction | None, str]:
    quantity = observation.valueQuantity
    if quantity is None or quantity.value is None:
        return None, ""
    return Fraction(quantity.value), (quantity.code or quantity.unit or "").strip()


def _canonical(concept: str, value: Fraction | None, unit: str) -> tuple[Fraction | None, str]:
    lowered = unit.lower()
    if value is None:
        return None, unit
    if concept == "creatinine" and lowered in ("umol/l", "µmol/l", "micromol/l"):
        return value / Fraction("88.4"), "mg/dL"
    if concept == "body-weight" and lowered in ("[lb_av]", "lb", "lbs"):
        return value * Fraction("0.45359237"), "kg"
    if concept == "body-weight" and lowered == "g":
        return value / 1000, "kg"
    return value, unit


@dataclass(frozen=True)
class RenalFunction:
    """The patient's newest kidney-function result: creatinine clearance (Cockcroft–Gault) or eGFR, whichever
    is newer (docs/clinical-reference.md §7i; CrCl on the same day, because the label tables use CrCl)."""

    ml_per_min: Fraction
    measure: str
    """``CrCl`` or ``eGFR``."""
    day: date
    basis: str
    """The facts used, as the card states them."""
    age_days: int
    """How old the result is on the evaluation day."""

    @property
    def stale(self) -> bool:
        """Older than 180 days: named on the card, never used as if current (docs/clinical-reference.md §7k)."""
        return self.age_days > RENAL_WINDOW_DAYS

    @property
    def stated(self) -> str:
        """``CrCl 40 mL/min (Cockcroft–Gault: serum creatinine 1.75 mg/dL on …)`` / ``eGFR 20 mL/min/1.73 m² on …``."""
        if self.measure == "eGFR":
            return f"eGFR {measured(self.ml_per_min)} mL/min/1.73 m² on {self.day.isoformat()}"
        return f"CrCl {measured(self.ml_per_min)} mL/min (Cockcroft–Gault: {self.basis})"


def renal_function(patient: PatientFacts, found: tuple[Measurement, ...], today: date) -> RenalFunction | None:
    """The newest result up to ``today``: eGFR, or CrCl = weight × (140 − age) / (72 × SCr), × 0.85 if female,
    from the newest creatinine with the newest weight, age and sex; ``None`` when there is neither."""

    def latest(concept: str) -> Measurement | None:
        usable = [m for m in found if m.concept == concept and m.value and m.day is not None and m.day <= today]
        return usable[-1] if usable else None

    creatinine, weight, egfr = latest("creatinine"), latest("body-weight"), latest("egfr")
    age = patient.age_on(today)
    sex = patient.sex
    crcl: RenalFunction | None = None
    if creatinine and weight and age is not None and sex in ("male", "female"):
        assert weight.value is not None and creatinine.value is not None and creatinine.day is not None
        value = weight.value * (140 - age) / (72 * creatinine.value)
        if sex == "female":
            value *= Fraction(85, 100)
        basis = (f"serum creatinine {number(creatinine.value)} mg/dL on {creatinine.day.isoformat()}, "
                 f"weight {measured(weight.value)} kg, age {age}, {sex}")
        crcl = RenalFunction(value, "CrCl", creatinine.day, basis, (today - creatinine.day).days)
    if egfr is not None and egfr.value is not None and egfr.day is not None \
            and (crcl is None or egfr.day > crcl.day):
        return RenalFunction(egfr.value, "eGFR", egfr.day, "", (today - egfr.day).days)
    return crcl


def creatinine_gap(patient: PatientFacts, found: tuple[Measurement, ...], today: date,
                   after: date | None = None) -> str | None:
    """Why the newest serum creatinine (newer than ``after``) could not give a CrCl (no weight, age or sex)."""
    creatinines = [m for m in found if m.concept == "creatinine" and m.value and m.day is not None
                   and m.day <= today and (after is None or m.day > after)]
    if not creatinines:
        return None
    missing = [what for what, known in (
        ("body weight", any(m.concept == "body-weight" and m.value and m.day is not None and m.day <= today
                            for m in found)),
        ("age", patient.age_on(today) is not None), ("sex", patient.sex in ("male", "female"))) if not known]
    if not missing:
        return None
    newest = creatinines[-1]
    assert newest.value is not None and newest.day is not None
    return (f"serum creatinine {number(newest.value)} mg/dL on {newest.day.isoformat()} gives no CrCl without "
            + " and ".join(missing))


def pregnancy_evidence(patient: PatientFacts, found: tuple[Measurement, ...], today: date) -> str | None:
    """Why the patient counts as pregnant (docs/clinical-reference.md §6b "Pregnant", §7h), or ``None``.

    A pregnancy Condition recorded within 42 weeks; or the latest pregnancy-status observation within
    42 weeks says pregnant; or a positive pregnancy test within 30 days — unless a later observation
    says not pregnant, or a later delivery, abortion or pregnancy-outcome record ends it.
    """
    ended = [p.recorded for p in patient.ever("pregnancy-ended")]
    ended_on = max((d for d in ended if d is not None), default=date.min if ended else None)

    def after_end(day: date | None) -> bool:
        return ended_on is None or (day is not None and day > ended_on)

    statuses = [m for m in found if m.concept == "pregnancy-status" and m.day is not None]
    latest_status = statuses[-1] if statuses else None
    if latest_status is not None and latest_status.code == "not-pregnant":
        return None
    for problem in patient.current("pregnancy"):
        if (problem.recorded is None or (today - problem.recorded).days <= PREGNANCY_WINDOW_DAYS) \
                and after_end(problem.recorded):
            return f"{problem.display} ({', '.join(problem.codes)})"
    if latest_status is not None and latest_status.code == "pregnant" and latest_status.day is not None \
            and (today - latest_status.day).days <= PREGNANCY_WINDOW_DAYS and after_end(latest_status.day):
        return f"pregnancy status 'pregnant' (LOINC 82810-3) on {latest_status.day.isoformat()}"
    for test in found:
        if test.concept == "pregnancy-test" and test.code == "positive" and test.day is not None \
                and (today - test.day).days <= PREGNANCY_TEST_WINDOW_DAYS and after_end(test.day):
            return f"positive pregnancy test (LOINC 2106-3) on {test.day.isoformat()}"
    return None

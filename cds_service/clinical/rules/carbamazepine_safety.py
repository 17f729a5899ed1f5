"""Card ``carbamazepine-safety`` (warning for HLA-B*15:02 at-risk ancestry without a result, else info).

Seed guidance: "Carbamazepine is the best-supported adjunctive agent" (200–800 mg/day). Label
(docs/clinical-reference.md
§4c): boxed warning — SJS/TEN strongly associated with HLA-B*15:02 (ancestry across broad areas of Asia):
screen genetically at-risk patients before starting; aplastic anemia/agranulocytosis (CBC); potent CYP3A4
inducer that lowers alprazolam, clonazepam, midazolam and clobazam levels (withdrawal risk); hyponatremia;
teratogen. Trigger (docs/clinical-reference.md §6c, §7g, §7j): carbamazepine started (none ordered, filled
or reported in the 90 days before) in a taper context; an HLA-B*15:02 result on file is read (LOINC 57979-7):
positive → warning not to start, with a one-click removal, in or outside a taper; negative → no test suggested.

Oxcarbazepine is treated like carbamazepine for HLA-B*15:02 (docs/clinical-reference.md §11o; CPIC guideline for
HLA genotype and use of carbamazepine and oxcarbazepine, 2017 update: avoid both in HLA-B*15:02 carriers who have
not taken them before): a positive result → do not start (warning, one-click removal); a start during a taper in a
patient of at-risk ancestry without a result → test first (warning with the test order). It is not a taper adjunct
of the guidance, so no other card is given for it.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import Declaration, draft_of
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Suggestion, draft_removal
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.orders import consultation_request
from cds_service.clinical.patient import Measurement
from cds_service.clinical.wording import plain_text

CARD_TYPE = "carbamazepine-safety"
SOURCE_URL = "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=50ba2042-fc67-4266-a773-a30f07649a5a"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Carbamazepine safety",
    indicators=("warning", "info"),
    rank=150,
    gates=(("a carbamazepine or oxcarbazepine draft", draft_of("carbamazepine", "oxcarbazepine")),),
)
CPIC_URL = "https://cpicpgx.org/guidelines/guideline-for-carbamazepine-and-hla-b/"
"""CPIC guideline for HLA genotype and carbamazepine and oxcarbazepine (2017 update): the page a person reads."""
HLA_DRUGS = ("carbamazepine", "oxcarbazepine")
CYP3A4_LOWERED = {"alprazolam", "clonazepam", "midazolam", "clobazam", "triazolam"}
US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
ASIAN_RACE_CODES = {"2028-9", "2034-7", "2039-6", "2040-4", "2047-9", "2036-2", "2041-2", "2052-9", "2037-0"}
"""CDC Race & Ethnicity codes: Asian (2028-9) and South/East-Asian detailed groups (Chinese, Japanese?, Korean?,
Vietnamese, Filipino, Laotian, Thai, Cambodian, Malaysian) — the label names "broad areas of Asia"."""


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    for draft in facts.evaluated_drafts:
        if draft.product.drug_class not in HLA_DRUGS or draft.ends_order or facts.continuing(draft):
            continue
        hla = _hla_b_1502(facts)
        if hla is not None and hla.code == "positive":
            yield _do_not_start(facts, draft, hla)
        elif not facts.history.in_taper_context:
            continue
        elif draft.product.drug_class == "carbamazepine":
            yield _started_in_taper(facts, draft, hla)
        elif hla is None and (ancestry := _asian_ancestry(facts)) is not None:
            yield _oxcarbazepine_test_first(facts, draft, ancestry)


def _hla_b_1502(facts: ClinicalFacts) -> Measurement | None:
    """The newest readable HLA-B*15:02 result (LOINC 57979-7), if any."""
    results = [m for m in facts.measurements if m.concept == "hla-b-1502" and m.code is not None]
    return results[-1] if results else None


def _result_text(hla: Measurement) -> str:
    on = f" on {hla.day.isoformat()}" if hla.day is not None else ""
    return f"HLA-B*15:02 {hla.code} (LOINC 57979-7){on}"


def _do_not_start(facts: ClinicalFacts, draft: MedicationCourse, hla: Measurement) -> Finding:
    """Boxed warning: patients testing positive for HLA-B*15:02 should not be treated with carbamazepine unless
    the benefit clearly outweighs the risk of Stevens–Johnson syndrome / toxic epidermal necrolysis."""
    drug = draft.product.ingredient
    suggestions: tuple[Suggestion, ...] = ()
    if draft.resource_id:
        suggestions = (draft_removal(f"Remove the {drug} order",
                                     f"Remove {plain_text(draft.product.display)}", draft.resource_id),)
    guidance = (
        "**Guidance:** The carbamazepine label's boxed warning: patients testing positive for HLA-B*15:02 "
        "should not be started on carbamazepine unless the expected benefit clearly outweighs the risk of "
        "Stevens–Johnson syndrome / toxic epidermal necrolysis. For taper symptoms, pause or slow the taper "
        "first (2025 Joint Guideline rec. 11); avoid oxcarbazepine and phenytoin as substitutes (same HLA "
        "association)." if drug == "carbamazepine" else
        "**Guidance:** CPIC (carbamazepine and oxcarbazepine, 2017 update): a patient who carries HLA-B*15:02 "
        "and has not taken oxcarbazepine before should not start it — the risk of Stevens–Johnson syndrome / "
        "toxic epidermal necrolysis is raised as with carbamazepine (the oxcarbazepine label: avoid unless the "
        "benefit clearly outweighs the risk). Avoid carbamazepine and phenytoin as substitutes (same HLA "
        "association); for taper symptoms, pause or slow the taper first (2025 Joint Guideline rec. 11).")
    return Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary=(f"Do not start {drug}: HLA-B*15:02 positive (boxed warning: SJS/TEN)" if drug == "carbamazepine"
                 else f"Do not start {drug}: HLA-B*15:02 positive (SJS/TEN risk; CPIC 2017)"),
        detail="\n".join([
            f"**Order:** {draft.label} — {drug} started for a patient who carries HLA-B*15:02.",
            "",
            f"**Why this card:** {_result_text(hla)}.",
            "",
            guidance,
        ]),
        order_id=draft.resource_id, source_url=SOURCE_URL if drug == "carbamazepine" else CPIC_URL,
        suggestions=suggestions,
    )


def _oxcarbazepine_test_first(facts: ClinicalFacts, draft: MedicationCourse, ancestry: str) -> Finding:
    """CPIC 2017: HLA-B*15:02 carriers who have not taken oxcarbazepine should not start it; the label advises
    testing patients of at-risk ancestry before starting, as for carbamazepine."""
    test = consultation_request(
        facts.evaluation.patient_id, "HLA-B*15:02 genotype, serum sodium",
        reason="Before starting oxcarbazepine",
        clinical_summary="Oxcarbazepine planned during a benzodiazepine taper; HLA-B*15:02 screening (Asian "
                         "ancestry) and baseline sodium.",
        authored_on=facts.evaluation.at.date().isoformat(),
    )
    test["intent"] = "order"
    test.pop("category", None)
    return Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary="Oxcarbazepine: test HLA-B*15:02 before starting (Asian ancestry, no result on file)",
        detail="\n".join([
            f"**Order:** {draft.label} — oxcarbazepine started during a benzodiazepine taper.",
            "",
            f"**Why this card:** the record shows Asian ancestry ({ancestry}) and the service found no "
            "HLA-B*15:02 result (LOINC 57979-7).",
            "",
            "**Guidance:** CPIC (carbamazepine and oxcarbazepine, 2017 update): HLA-B*15:02 carriers who have not "
            "taken oxcarbazepine before should not start it (Stevens–Johnson syndrome / toxic epidermal "
            "necrolysis), as with carbamazepine — test before starting and do not start if positive. "
            "Oxcarbazepine often lowers serum sodium: check it at baseline.",
        ]),
        order_id=draft.resource_id, source_url=CPIC_URL,
        suggestions=(Suggestion("Order HLA-B*15:02 and serum sodium", (
            Action(type="create", description="Order HLA-B*15:02 genotype and serum sodium before oxcarbazepine",
                   resource=test),), is_recommended=True),),
    )


def _started_in_taper(facts: ClinicalFacts, draft: MedicationCourse, hla: Measurement | None) -> Finding:
    at_risk = _asian_ancestry(facts) if hla is None else None
    interacting = sorted(facts.history.proposed_ingredients & CYP3A4_LOWERED)
    lines = [f"**Order:** {draft.label} — carbamazepine started during a benzodiazepine taper.", "",
             "**Check before starting:**"]
    if hla is not None:
        lines.append(f"- {_result_text(hla)}: no HLA-B*15:02 test needed.")
    elif at_risk:
        lines.append(f"- HLA-B*15:02: the record shows Asian ancestry ({at_risk}) and the service found no "
                     "HLA-B*15:02 result — test before starting; do not start if positive (boxed warning: "
                     "Stevens–Johnson syndrome / toxic epidermal necrolysis).")
    else:
        lines.append("- HLA-B*15:02 testing before starting in patients of Asian ancestry (ancestry not "
                     "recorded as Asian in the data the service reads; no result on file).")
    if interacting:
        lines.append(f"- Carbamazepine induces CYP3A4 and lowers {', '.join(interacting)} levels: this can "
                     "precipitate withdrawal during the taper; the benzodiazepine dose may need re-titration.")
    lines += ["- Baseline CBC with platelets, liver tests and serum sodium; monitor (aplastic anemia, "
              "agranulocytosis, hyponatremia).",
              *(["- Pregnancy: carbamazepine is a teratogen (neural-tube defects)."] if facts.pregnancy else []),
              "", "**Guidance:** Carbamazepine 200–800 mg/day is the best-supported taper adjunct (the taper "
              "summary guidance; one 40-patient trial, mainly for ≥ 20 mg/day diazepam-equivalent)."]
    tests = "CBC with platelets, liver panel, serum sodium" if hla is not None else \
        "HLA-B*15:02 genotype, CBC with platelets, liver panel, serum sodium"
    labs = consultation_request(
        facts.evaluation.patient_id, tests,
        reason="Baseline tests before starting carbamazepine",
        clinical_summary="Carbamazepine planned as a benzodiazepine-taper adjunct; boxed-warning screening.",
        authored_on=facts.evaluation.at.date().isoformat(),
    )
    labs["intent"] = "order"
    labs.pop("category", None)
    label = "Order baseline labs" if hla is not None else "Order HLA-B*15:02 and baseline labs"
    return Finding(
        card_type=CARD_TYPE, indicator="warning" if at_risk else "info",
        summary=("Carbamazepine: test HLA-B*15:02 before starting (Asian ancestry, no result on file)"
                 if at_risk else
                 "Carbamazepine during a taper: baseline labs; it lowers some benzodiazepine levels"),
        detail="\n".join(lines), order_id=draft.resource_id, source_url=SOURCE_URL,
        suggestions=(Suggestion(label, (
            Action(type="create", description="Order baseline tests for carbamazepine", resource=labs),),
            is_recommended=True),),
    )


def _asian_ancestry(facts: ClinicalFacts) -> str | None:
    patient = facts.evaluation.record.patient
    for extension in (patient.extension or []) if patient is not None else []:
        if extension.url != US_CORE_RACE:
            continue
        for part in extension.extension or []:
            coding = part.valueCoding
            if coding is not None and coding.code in ASIAN_RACE_CODES:
                return plain_text(coding.display or coding.code)
            if part.url == "text" and part.valueString and "asian" in part.valueString.lower():
                return plain_text(part.valueString)
    return None

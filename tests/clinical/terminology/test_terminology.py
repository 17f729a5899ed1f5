"""Terminology: products by code and by name, equivalence tables, condition and LOINC concepts."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from cds_service.clinical.terminology import ICD10CM, LOINC, RXNORM, SNOMED, SimpleCoding, load_terminology

DATA = Path(__file__).resolve().parents[3] / "cds_service/clinical/terminology"
terminology = load_terminology()


def by_code(code: str) -> object:
    return terminology.product([SimpleCoding(RXNORM, code)])


@pytest.mark.parametrize(("code", "ingredient", "strength", "unit", "route", "rescue"), [
    ("197591", "diazepam", Fraction(5), "tablet", "oral", False),
    ("309843", "diazepam", Fraction(1), "mL", "oral", False),
    ("801957", "diazepam", Fraction(5), "mL", "rectal", True),
    ("2272626", "diazepam", Fraction(50), "mL", "nasal", True),
    ("2682564", "diazepam", Fraction(5), "film", "buccal", True),
    ("308047", "alprazolam", Fraction(1, 4), "tablet", "oral", False),
    ("197527", "clonazepam", Fraction(1, 2), "tablet", "oral", False),
    ("1300890", "baclofen", Fraction(1), "mL", "intrathecal", False),
    ("197391", "baclofen", Fraction(10), "tablet", "oral", False),
    ("310430", "gabapentin", Fraction(100), "capsule", "oral", False),
    ("308979", "carbamazepine", Fraction(200), "tablet", "oral", False),
    ("854873", "zolpidem", Fraction(10), "tablet", "oral", False),
    ("104700", "diazepam", Fraction(5), "tablet", "oral", False),
])
def test_products_by_rxnorm_code(code: str, ingredient: str, strength: Fraction, unit: str, route: str,
                                 rescue: bool) -> None:
    product = terminology.product([SimpleCoding(RXNORM, code)])
    assert product is not None and product.matched_by == "code"
    assert (product.ingredient, product.strength_mg, product.unit, product.route, product.rescue) == (
        ingredient, strength, unit, route, rescue)


def test_rescue_and_intrathecal_products_are_not_in_taper_math() -> None:
    assert not terminology.product([SimpleCoding(RXNORM, "801957")]).in_taper_math  # type: ignore[union-attr]
    assert terminology.product([SimpleCoding(RXNORM, "197591")]).in_taper_math  # type: ignore[union-attr]


def test_combination_product_counts_its_chlordiazepoxide() -> None:
    product = terminology.product([SimpleCoding(RXNORM, "856792")])
    assert product is not None and (product.ingredient, product.strength_mg) == ("chlordiazepoxide", 10)


@pytest.mark.parametrize(("text", "ingredient", "strength", "unit", "route"), [
    ("Diazepam 5mg tablets", "diazepam", Fraction(5), "tablet", "oral"),
    ("LORAZEPAM 0.5 MG TAB", "lorazepam", Fraction(1, 2), "tablet", "oral"),
    ("Valium 10 mg", "diazepam", Fraction(10), "tablet", "oral"),
    ("baclofen 10 mg", "baclofen", Fraction(10), "tablet", "oral"),
    ("Baclofen intrathecal 2 mg/mL", "baclofen", Fraction(2), "mL", "intrathecal"),
    ("diazepam oral solution 5 mg/5 mL", "diazepam", Fraction(1), "mL", "oral"),
    ("gabapentin 300 mg capsule", "gabapentin", Fraction(300), "capsule", "oral"),
])
def test_unknown_code_falls_back_to_the_name(text: str, ingredient: str, strength: Fraction, unit: str,
                                             route: str) -> None:
    product = terminology.product([SimpleCoding(RXNORM, "99999999", text)])
    assert product is not None and product.matched_by == "name" and product.code is None
    assert (product.ingredient, product.strength_mg, product.unit, product.route) == (ingredient, strength, unit,
                                                                                      route)


def test_name_without_strength_has_unknown_strength() -> None:
    product = terminology.product([], "clonazepam")
    assert product is not None and product.strength_mg is None


def test_ingredient_code_is_known_without_strength() -> None:
    product = terminology.product([SimpleCoding(RXNORM, "3322", "diazepam")])
    assert product is not None and product.ingredient == "diazepam" and product.strength_mg is None


def test_unrelated_drug_is_not_a_product() -> None:
    assert terminology.product([SimpleCoding(RXNORM, "617314", "Atorvastatin 10 MG Oral Tablet")]) is None
    assert not terminology.mentions_relevant_ingredient("Atorvastatin 10 MG Oral Tablet")
    assert terminology.mentions_relevant_ingredient("XANAX 1 mg")


def test_wrong_system_does_not_match_by_code() -> None:
    assert terminology.product([SimpleCoding(SNOMED, "197591")]) is None


@pytest.mark.parametrize(("ingredient", "ashton", "va_dod"), [
    ("alprazolam", Fraction(1, 2), Fraction(1)),
    ("lorazepam", Fraction(1), Fraction(2)),
    ("clonazepam", Fraction(1, 2), Fraction(1)),
    ("oxazepam", Fraction(20), Fraction(30)),
    ("temazepam", Fraction(20), Fraction(15)),
    ("quazepam", Fraction(20), Fraction(10)),
    ("triazolam", Fraction(1, 2), Fraction(1, 4)),
    ("diazepam", Fraction(10), Fraction(10)),
    ("chlordiazepoxide", Fraction(25), Fraction(25)),
    ("zolpidem", Fraction(20), None),
    ("prazepam", None, None),
])
def test_equivalence_tables(ingredient: str, ashton: Fraction | None, va_dod: Fraction | None) -> None:
    assert terminology.equivalent_oral_dose_mg(ingredient, "ashton") == ashton
    assert terminology.equivalent_oral_dose_mg(ingredient, "va-dod") == va_dod


@pytest.mark.parametrize(("system", "code", "expected"), [
    (SNOMED, "724668002", {"withdrawal-seizure"}),
    (ICD10CM, "F13.20", {"sedative-use-disorder", "substance-use-disorder"}),
    (ICD10CM, "f1320", {"sedative-use-disorder", "substance-use-disorder"}),
    (ICD10CM, "F17.210", set()),
    (ICD10CM, "F10.21", {"substance-use-disorder-in-remission"}),
    (ICD10CM, "F13.239", {"sedative-withdrawal", "sedative-use-disorder", "substance-use-disorder"}),
    (ICD10CM, "Z33.1", {"pregnancy"}),
    (ICD10CM, "O09.90", {"pregnancy"}),
    (ICD10CM, "G35", {"spasticity"}),
    (ICD10CM, "R45.851", {"suicidal-ideation"}),
    (ICD10CM, "F31.9", {"bipolar"}),
    (SNOMED, "66590003", {"substance-use-disorder"}),
    (SNOMED, "77386006", {"pregnancy"}),
    (SNOMED, "38341003", set()),  # hypertension
])
def test_condition_concepts(system: str, code: str, expected: set[str]) -> None:
    assert terminology.condition_concepts([SimpleCoding(system, code)]) == expected


def test_every_misuse_code_except_tobacco_and_withdrawal_is_a_use_disorder_or_in_remission() -> None:
    codes = json.loads((DATA / "substance_misuse.json").read_text())["codes"]
    for entry in codes:
        display = entry["display"].lower()
        if entry["system"] != SNOMED or any(word in display for word in ("tobacco", "nicotine", "withdrawal")):
            continue
        concepts = terminology.condition_concepts([SimpleCoding(SNOMED, entry["code"])])
        assert concepts & {"substance-use-disorder", "substance-use-disorder-in-remission"}, entry


def test_observation_concepts_and_prefetch_codes() -> None:
    assert terminology.observation_concepts([SimpleCoding(LOINC, "98979-8")]) == {"egfr"}
    assert terminology.observation_concepts([SimpleCoding(LOINC, "2160-0")]) == {"creatinine"}
    assert terminology.observation_concepts([SimpleCoding(SNOMED, "2160-0")]) == set()
    assert terminology.observation_concepts([SimpleCoding(LOINC, "57979-7")]) == {"hla-b-1502"}
    codes = terminology.observation_loinc_codes()
    assert len(codes) == len(set(codes)) == 21 and codes[0] == "98979-8"


def test_every_product_has_a_positive_strength_and_a_known_class() -> None:
    rows = json.loads((DATA / "products.json").read_text())["products"]
    assert len(rows) == len({row["code"] for row in rows}) == 279
    for row in rows:
        assert Fraction(row["strength_mg"]) > 0, row
        assert row["drug_class"] in {"benzodiazepine", "z-drug", "baclofen", "gabapentin", "pregabalin",
                                     "carbamazepine", "oxcarbazepine"}


def test_relevant_codes_filter() -> None:
    assert terminology.is_taper_medication_code(RXNORM, "197591")  # diazepam 5 mg tablet
    assert terminology.is_taper_medication_code(RXNORM, "3322")  # diazepam, the ingredient
    assert not terminology.is_opioid_code(RXNORM, "197591")
    assert terminology.is_opioid_code(RXNORM, "1049621")  # oxycodone 5 mg tablet
    assert not terminology.is_taper_medication_code(RXNORM, "1049621")
    assert not terminology.is_taper_medication_code(RXNORM, "617314")  # unrelated: neither
    assert not terminology.is_opioid_code(RXNORM, "617314")
    assert not terminology.is_taper_medication_code(None, "197591")
    assert not terminology.is_opioid_code(None, "1049621")


@pytest.mark.parametrize(("code", "ingredient", "role"), [
    ("1049621", "oxycodone", "analgesic"),                # oxycodone 5 mg tablet
    ("835603", "tramadol", "analgesic"),                  # tramadol 50 mg tablet
    ("1010604", "buprenorphine", "oud-treatment"),        # buprenorphine/naloxone 8/2 mg film: treatment, not rescue
    ("351265", "buprenorphine", "oud-treatment"),         # buprenorphine 8 mg sublingual tablet
    ("1996184", "buprenorphine", "oud-treatment"),        # extended-release injection (Sublocade)
    ("904870", "buprenorphine", "analgesic"),             # transdermal (Butrans) is for pain
    ("1716057", "buprenorphine", "analgesic"),            # buccal film (Belbuca) is for pain
    ("864978", "methadone", "oud-treatment"),             # 40 mg dispersible tablet
    ("991147", "methadone", "oud-treatment"),             # 10 mg/mL oral concentrate
    ("864706", "methadone", "pain-or-oud"),               # 10 mg tablet
    ("1725059", "naloxone", "rescue-naloxone"),           # naloxone 4 mg nasal spray
    ("1191222", "naloxone", "rescue-naloxone"),           # naloxone 0.4 mg/mL injection
    ("312289", "pentazocine", "analgesic"),               # pentazocine/naloxone tablet is an analgesic
])
def test_opioids_by_rxnorm_code(code: str, ingredient: str, role: str) -> None:
    opioid = terminology.opioid([SimpleCoding(RXNORM, code)])
    assert opioid is not None and (opioid.ingredient, opioid.role, opioid.matched_by) == (ingredient, role, "code")
    assert terminology.product([SimpleCoding(RXNORM, code)]) is None, "never part of a benzodiazepine total"


@pytest.mark.parametrize(("text", "ingredient", "role"), [
    ("Oxycodone 5 mg tab", "oxycodone", "analgesic"),
    ("Suboxone 8 mg/2 mg film", "buprenorphine", "oud-treatment"),
    ("buprenorphine-naloxone 8-2 mg SL film", "buprenorphine", "oud-treatment"),
    ("buprenorphine 10 mcg/hr patch", "buprenorphine", "analgesic"),
    ("buprenorphine 2 mg", "buprenorphine", "pain-or-oud"),
    ("Methadone 10 mg tablet", "methadone", "pain-or-oud"),
    ("Narcan 4 mg nasal spray", "naloxone", "rescue-naloxone"),
    ("MS Contin 15 mg", "morphine", "analgesic"),
])
def test_opioids_by_name(text: str, ingredient: str, role: str) -> None:
    opioid = terminology.opioid([], text)
    assert opioid is not None and (opioid.ingredient, opioid.role, opioid.matched_by) == (ingredient, role, "name")


def test_a_benzodiazepine_is_not_an_opioid() -> None:
    assert terminology.opioid([SimpleCoding(RXNORM, "197591", "diazepam 5 MG Oral Tablet")]) is None


def test_opioid_data_comes_from_the_cdc_value_sets() -> None:
    data = json.loads((DATA / "opioids.json").read_text(encoding="utf-8"))
    assert len(data["products"]) == 602
    rescue = [row for row in data["products"] if row["role"] == "rescue-naloxone"]
    assert len(rescue) == 21 and all("buprenorphine" not in row["display"] for row in rescue)


@pytest.mark.parametrize(("system", "code"), [(ICD10CM, "F11.20"), (ICD10CM, "F11.21"), (SNOMED, "75544000"),
                                              (SNOMED, "1081000119105")])
def test_opioid_use_disorder_in_any_status(system: str, code: str) -> None:
    assert "opioid-use-disorder" in terminology.condition_concepts([SimpleCoding(system, code)])

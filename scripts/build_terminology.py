"""Regenerate cds_service/clinical/terminology/{products,substance_misuse,opioids}.json from the CDC value sets.

Run from the repository root with a folder of the published CDC value-set JSON files (docs/clinical-reference.md
source table, "CDC value sets"):
    python scripts/build_terminology.py <folder of the CDC value-set JSON files>
The service never reads that folder at run time; it reads only the generated JSON (see SOURCES.md).
Hand-curated rows (adjuncts, brand SBDs, eszopiclone, ingredient codes) come from docs/clinical-reference.md §2a–§2b.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "cds_service/clinical/terminology"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

BENZODIAZEPINES = ["alprazolam", "bromazepam", "chlordiazepoxide", "clobazam", "clonazepam", "clorazepate",
                   "diazepam", "estazolam", "flurazepam", "lorazepam", "midazolam", "nitrazepam", "oxazepam",
                   "quazepam", "temazepam", "triazolam", "remimazolam", "halazepam", "lormetazepam", "flunitrazepam",
                   "prazepam"]
Z_DRUGS = ["zolpidem", "zaleplon", "eszopiclone", "zopiclone"]

# (suffix of the dose form, unit, route, rescue) — first match wins, so longer forms come first.
FORMS: list[tuple[str, str, str, bool]] = [
    ("Disintegrating Oral Tablet", "tablet", "oral", False),
    ("Extended Release Oral Tablet", "tablet", "oral", False),
    ("Extended Release Oral Capsule", "capsule", "oral", False),
    ("Sublingual Tablet", "tablet", "sublingual", False),
    ("Chewable Tablet", "tablet", "oral", False),
    ("Oral Tablet", "tablet", "oral", False),
    ("Oral Capsule", "capsule", "oral", False),
    ("Oral Solution", "mL", "oral", False),
    ("Oral Suspension", "mL", "oral", False),
    ("Oral Film", "film", "oral", False),
    ("Sublingual Film", "film", "sublingual", False),
    ("Oral Spray", "spray", "oral", False),
    ("Buccal Film", "film", "buccal", True),  # diazepam buccal film (Libervant) is a seizure-rescue product
    ("Nasal Spray", "spray", "nasal", True),
    ("Rectal Gel", "gel", "rectal", True),
    ("Rectal Suppository", "unit", "rectal", True),
    ("Enema", "mL", "rectal", True),
    ("Auto-Injector", "mL", "injection", True),
    ("Cartridge", "mL", "injection", True),
    ("Prefilled Syringe", "mL", "injection", True),
    ("Injectable Solution", "mL", "injection", True),
    ("Injectable Suspension", "mL", "injection", True),
    ("Injection", "mL", "injection", True),
]

CURATED: list[dict[str, Any]] = [
    # Brand diazepam SBDs (docs/clinical-reference.md §2b, opioid-cds spreadsheet BenzM-cl)
    {"code": "104699", "display": "Diazepam 2 MG Oral Tablet [Valium]"},
    {"code": "104700", "display": "Diazepam 5 MG Oral Tablet [Valium]"},
    {"code": "104701", "display": "Diazepam 10 MG Oral Tablet [Valium]"},
    # eszopiclone (VSAC-CNS, docs/clinical-reference.md §2b)
    {"code": "485440", "display": "eszopiclone 1 MG Oral Tablet"},
    {"code": "485442", "display": "eszopiclone 2 MG Oral Tablet"},
    {"code": "485465", "display": "eszopiclone 3 MG Oral Tablet"},
    # baclofen (docs/clinical-reference.md §2b; openFDA NDC crosswalks; 2679605 display UNVERIFIED)
    {"code": "430902", "display": "baclofen 5 MG Oral Tablet"},
    {"code": "197391", "display": "baclofen 10 MG Oral Tablet"},
    {"code": "2679605", "display": "baclofen 15 MG Oral Tablet"},
    {"code": "197392", "display": "baclofen 20 MG Oral Tablet"},
    {"code": "250976", "display": "baclofen 1 MG/ML Oral Solution"},
    {"code": "2667941", "display": "baclofen 2 MG/ML Oral Solution"},
    {"code": "2593376", "display": "baclofen 5 MG/ML Oral Suspension"},
    {"code": "1300890", "display": "20 ML baclofen 1 MG/ML Injection", "route": "intrathecal"},
    {"code": "1666613", "display": "20 ML baclofen 2 MG/ML Injection", "route": "intrathecal"},
    # carbamazepine (docs/clinical-reference.md §2b; 402506 and 388311 UNVERIFIED)
    {"code": "197441", "display": "carbamazepine 100 MG Oral Tablet"},
    {"code": "308973", "display": "carbamazepine 100 MG Chewable Tablet"},
    {"code": "308979", "display": "carbamazepine 200 MG Oral Tablet"},
    {"code": "308976", "display": "carbamazepine 20 MG/ML Oral Suspension"},
    {"code": "199378", "display": "12 HR carbamazepine 100 MG Extended Release Oral Tablet"},
    {"code": "402505", "display": "12 HR carbamazepine 200 MG Extended Release Oral Tablet"},
    {"code": "402506", "display": "12 HR carbamazepine 400 MG Extended Release Oral Tablet"},
    {"code": "388311", "display": "12 HR carbamazepine 100 MG Extended Release Oral Capsule"},
    {"code": "200133", "display": "12 HR carbamazepine 200 MG Extended Release Oral Capsule"},
    {"code": "200131", "display": "12 HR carbamazepine 300 MG Extended Release Oral Capsule"},
    # oxcarbazepine (VSAC-CNS 2.16.840.1.113762.1.4.1248.134, eCQM Update 2025-05-08; docs/clinical-reference.md
    # §11o): read only for the HLA-B*15:02 card
    {"code": "312136", "display": "oxcarbazepine 150 MG Oral Tablet"},
    {"code": "312137", "display": "oxcarbazepine 300 MG Oral Tablet"},
    {"code": "312138", "display": "oxcarbazepine 600 MG Oral Tablet"},
    {"code": "283536", "display": "oxcarbazepine 60 MG/ML Oral Suspension"},
    {"code": "1365653", "display": "24 HR oxcarbazepine 150 MG Extended Release Oral Tablet"},
    {"code": "1365842", "display": "24 HR oxcarbazepine 300 MG Extended Release Oral Tablet"},
    {"code": "1365844", "display": "24 HR oxcarbazepine 600 MG Extended Release Oral Tablet"},
    # gabapentin and pregabalin (VSAC-CNS displays, docs/clinical-reference.md §2b)
    {"code": "310430", "display": "gabapentin 100 MG Oral Capsule"},
    {"code": "310431", "display": "gabapentin 300 MG Oral Capsule"},
    {"code": "310432", "display": "gabapentin 400 MG Oral Capsule"},
    {"code": "310433", "display": "gabapentin 600 MG Oral Tablet"},
    {"code": "310434", "display": "gabapentin 800 MG Oral Tablet"},
    {"code": "283523", "display": "gabapentin 50 MG/ML Oral Solution"},
    {"code": "1806380", "display": "Once-Daily gabapentin 300 MG Oral Tablet"},
    {"code": "1806382", "display": "Once-Daily gabapentin 600 MG Oral Tablet"},
    {"code": "1482820", "display": "gabapentin enacarbil 300 MG Extended Release Oral Tablet"},
    {"code": "1101338", "display": "gabapentin enacarbil 600 MG Extended Release Oral Tablet"},
    {"code": "483442", "display": "pregabalin 25 MG Oral Capsule"},
    {"code": "483448", "display": "pregabalin 50 MG Oral Capsule"},
    {"code": "483450", "display": "pregabalin 75 MG Oral Capsule"},
    {"code": "483438", "display": "pregabalin 100 MG Oral Capsule"},
    {"code": "483440", "display": "pregabalin 150 MG Oral Capsule"},
    {"code": "483446", "display": "pregabalin 200 MG Oral Capsule"},
    {"code": "577127", "display": "pregabalin 225 MG Oral Capsule"},
    {"code": "483444", "display": "pregabalin 300 MG Oral Capsule"},
    {"code": "898715", "display": "pregabalin 20 MG/ML Oral Solution"},
    {"code": "1988980", "display": "24 HR pregabalin 82.5 MG Extended Release Oral Tablet"},
    {"code": "1988974", "display": "24 HR pregabalin 165 MG Extended Release Oral Tablet"},
    {"code": "1988977", "display": "24 HR pregabalin 330 MG Extended Release Oral Tablet"},
]

CLASS_OF = {**{i: "benzodiazepine" for i in BENZODIAZEPINES}, **{z: "z-drug" for z in Z_DRUGS},
            "baclofen": "baclofen", "carbamazepine": "carbamazepine", "oxcarbazepine": "oxcarbazepine",
            "gabapentin": "gabapentin",
            "gabapentin enacarbil": "gabapentin", "pregabalin": "pregabalin"}
_STRENGTH = re.compile(
    r"(?P<ingredient>[a-z][a-z ]*?)(?: hydrochloride| dipotassium| tartrate| besylate| HCl)?"
    r" (?P<amount>\d+(?:\.\d+)?) (?P<unit>MG/ML|MG/ACTUAT|MG)\b", re.IGNORECASE)


def parse_product(code: str, display: str, route_override: str | None = None) -> dict[str, Any] | None:
    """One product row from an RxNorm display: the benzodiazepine/adjunct ingredient, its strength and form."""
    text = display.split(") } Pack")[0]  # a dose-kit pack: describe its first component
    for match in _STRENGTH.finditer(text):
        words = match["ingredient"].strip().lower()
        # "20 ML baclofen", "24 HR alprazolam", "Once-Daily gabapentin": the ingredient is the known name at the end
        ingredient = next((name for name in sorted(CLASS_OF, key=len, reverse=True)
                           if words == name or words.endswith(" " + name)), None)
        if ingredient is None:
            continue
        tail = text[match.end():]
        form = next((f for f in FORMS if f[0] in tail), None)
        if form is None:
            raise ValueError(f"unknown dose form in {display!r}")
        name, unit, route, rescue = form
        if route_override:
            route, rescue, name = route_override, False, "Intrathecal Injection"
        if CLASS_OF[ingredient] != "benzodiazepine":
            rescue = False
        if ingredient in ("midazolam", "remimazolam") and route == "injection":
            rescue = True
        return {"code": code, "display": display, "ingredient": ingredient, "drug_class": CLASS_OF[ingredient],
                "strength_mg": match["amount"], "unit": _unit(match["unit"].upper(), unit),
                "dose_form": name, "route": route, "rescue": rescue,
                "combination": " / " in text}
    return None


def _unit(strength_unit: str, form_unit: str) -> str:
    """Strength is per actuation (MG/ACTUAT), per mL (MG/ML, whatever the device), else per counted unit."""
    if strength_unit == "MG/ACTUAT":
        return "spray"
    if strength_unit == "MG/ML":
        return "mL"
    return "unit" if form_unit == "mL" else form_unit


def main(valuesets: Path) -> None:
    products: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name in ("cdc-benzodiazepine-medications.json", "cdc-cns-depressant-medications.json"):
        for concept in json.loads((valuesets / name).read_text())["expansion"]["contains"]:
            row = parse_product(concept["code"], concept["display"])
            if row is not None and concept["code"] not in seen:
                if name.startswith("cdc-benzo") and row["drug_class"] != "benzodiazepine":
                    raise ValueError(concept)
                products.append(row)
                seen.add(concept["code"])
    for concept in CURATED:
        if concept["code"] in seen:
            continue
        row = parse_product(concept["code"], concept["display"], concept.get("route"))
        if row is None:
            raise ValueError(concept)
        products.append(row)
        seen.add(concept["code"])
    (OUT / "products.json").write_text(json.dumps(
        {"_source": "see SOURCES.md; generated by scripts/build_terminology.py", "products": products},
        indent=1) + "\n")

    misuse = json.loads((valuesets / "cdc-conditions-documenting-substance-misuse.json").read_text())
    codes = [{"system": c["system"], "code": c["code"], "display": c["display"]}
             for c in misuse["expansion"]["contains"]]
    (OUT / "substance_misuse.json").write_text(json.dumps(
        {"_source": "cqframework/opioid-cds @8122fb2 input/vocabulary/valueset/"
                    "valueset-conditions-documenting-substance-misuse.json (expansion 2022-05-09)",
         "codes": codes}, indent=1) + "\n")
    opioids = opioid_products(valuesets)
    (OUT / "opioids.json").write_text(json.dumps(
        {"_source": "see SOURCES.md; generated by scripts/build_terminology.py", "products": opioids,
         "names": OPIOID_NAMES}, indent=1) + "\n")
    print(f"{len(products)} products, {len(codes)} substance-misuse codes, {len(opioids)} opioid and naloxone "
          "products")


OPIOID_VALUE_SETS = ("cdc-opioid-analgesics-with-ambulatory-misuse-potential.json",
                     "cdc-buprenorphine-medications.json", "cdc-methadone-medications.json",
                     "cdc-naloxone-medications.json")
OPIOIDS = ["alfentanil", "benzhydrocodone", "buprenorphine", "butorphanol", "codeine", "dextromoramide",
           "dihydrocodeine", "dipipanone", "fentanyl", "heroin", "hydrocodone", "hydromorphone", "levomethadyl",
           "levorphanol", "meperidine", "meptazinol", "methadone", "morphine", "nalbuphine", "opium",
           "oxycodone", "oxymorphone", "pentazocine", "pholcodine", "propoxyphene", "remifentanil", "sufentanil",
           "tapentadol", "tramadol"]
_OPIOID_WORD = re.compile(r"\b(" + "|".join([*OPIOIDS, "naloxone"]) + r")\b", re.IGNORECASE)

# Names of orders written as text (brand → ingredient; US labels). A role here overrides the ingredient's
# default when the name alone says what the product is for (Suboxone is always opioid-use-disorder treatment).
OPIOID_NAMES: dict[str, dict[str, str]] = {
    **{name: {"ingredient": name, "role": "analgesic"} for name in OPIOIDS},
    "buprenorphine": {"ingredient": "buprenorphine", "role": "pain-or-oud"},
    "methadone": {"ingredient": "methadone", "role": "pain-or-oud"},
    "levomethadyl": {"ingredient": "levomethadyl", "role": "oud-treatment"},
    "naloxone": {"ingredient": "naloxone", "role": "rescue-naloxone"},
    "narcan": {"ingredient": "naloxone", "role": "rescue-naloxone"},
    "kloxxado": {"ingredient": "naloxone", "role": "rescue-naloxone"},
    "zimhi": {"ingredient": "naloxone", "role": "rescue-naloxone"},
    "suboxone": {"ingredient": "buprenorphine", "role": "oud-treatment"},
    "subutex": {"ingredient": "buprenorphine", "role": "oud-treatment"},
    "zubsolv": {"ingredient": "buprenorphine", "role": "oud-treatment"},
    "bunavail": {"ingredient": "buprenorphine", "role": "oud-treatment"},
    "sublocade": {"ingredient": "buprenorphine", "role": "oud-treatment"},
    "brixadi": {"ingredient": "buprenorphine", "role": "oud-treatment"},
    "butrans": {"ingredient": "buprenorphine", "role": "analgesic"},
    "belbuca": {"ingredient": "buprenorphine", "role": "analgesic"},
    "methadose": {"ingredient": "methadone", "role": "pain-or-oud"},
    "dolophine": {"ingredient": "methadone", "role": "pain-or-oud"},
    "diskets": {"ingredient": "methadone", "role": "oud-treatment"},
    "oxycontin": {"ingredient": "oxycodone", "role": "analgesic"},
    "percocet": {"ingredient": "oxycodone", "role": "analgesic"},
    "roxicodone": {"ingredient": "oxycodone", "role": "analgesic"},
    "norco": {"ingredient": "hydrocodone", "role": "analgesic"},
    "vicodin": {"ingredient": "hydrocodone", "role": "analgesic"},
    "hysingla": {"ingredient": "hydrocodone", "role": "analgesic"},
    "dilaudid": {"ingredient": "hydromorphone", "role": "analgesic"},
    "duragesic": {"ingredient": "fentanyl", "role": "analgesic"},
    "ms contin": {"ingredient": "morphine", "role": "analgesic"},
    "ultram": {"ingredient": "tramadol", "role": "analgesic"},
    "nucynta": {"ingredient": "tapentadol", "role": "analgesic"},
    "demerol": {"ingredient": "meperidine", "role": "analgesic"},
    "opana": {"ingredient": "oxymorphone", "role": "analgesic"},
}


def opioid_role(ingredient: str, display: str) -> str:
    """What an opioid product is for, from its RxNorm display.

    - ``rescue-naloxone``: naloxone alone (nasal spray, injection, auto-injector). Buprenorphine/naloxone
      is opioid-use-disorder treatment and pentazocine/naloxone an analgesic, never rescue naloxone.
    - ``oud-treatment``: products made only for opioid use disorder — buprenorphine with naloxone,
      sublingual buprenorphine 2 mg and 8 mg tablets, the buprenorphine implant and extended-release
      injections (Sublocade, Brixadi); methadone 40 mg dispersible tablets (Diskets, Methadose dispersible)
      and 10 mg/mL oral concentrate, which opioid treatment programmes dispense (Methadose and Diskets USPI:
      detoxification and maintenance treatment of opioid addiction); levomethadyl.
    - ``pain-or-oud``: the other methadone products (5 and 10 mg tablets, 1, 2, 5 and 20 mg/mL solutions),
      prescribed for either; the service treats them as opioid-use-disorder treatment when the order's reason
      or the patient's conditions record an opioid use disorder.
    - ``analgesic``: everything else, including buprenorphine for pain (transdermal Butrans, buccal Belbuca,
      0.3 mg/mL injection, 0.2 and 0.4 mg sublingual tablets).
    """
    text = display.lower()
    if ingredient == "naloxone":
        return "rescue-naloxone"
    if ingredient == "levomethadyl":
        return "oud-treatment"
    if ingredient == "buprenorphine":
        strength = re.search(r"buprenorphine (\d+(?:\.\d+)?) mg sublingual tablet", text)
        if "naloxone" in text or "drug implant" in text or "prefilled syringe" in text \
                or (strength is not None and float(strength.group(1)) >= 2):
            return "oud-treatment"
        return "analgesic"
    if ingredient == "methadone":
        if "tablet for oral suspension" in text or "10 mg/ml oral solution" in text:
            return "oud-treatment"
        return "pain-or-oud"
    return "analgesic"


def opioid_products(valuesets: Path) -> list[dict[str, Any]]:
    """Every product of the CDC opioid-analgesic, buprenorphine, methadone and naloxone value sets, once."""
    rows: dict[str, dict[str, Any]] = {}
    for name in OPIOID_VALUE_SETS:
        for concept in json.loads((valuesets / name).read_text())["expansion"]["contains"]:
            found = [word.lower() for word in _OPIOID_WORD.findall(concept["display"])]
            if not found:
                raise ValueError(f"no opioid or naloxone in {concept['display']!r}")
            # the opioid of a combination, not its naloxone (buprenorphine/naloxone, pentazocine/naloxone)
            ingredient = next((word for word in found if word != "naloxone"), found[0])
            rows.setdefault(concept["code"], {
                "code": concept["code"], "display": concept["display"], "ingredient": ingredient,
                "role": opioid_role(ingredient, concept["display"])})
    return sorted(rows.values(), key=lambda row: (row["ingredient"], row["display"]))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""Card ``gabapentin-sud`` (warning): gabapentin for a patient with a sedative use disorder.

2025 Joint Guideline Table 10 (gabapentin for anxiety-related withdrawal symptoms): "Risk for misuse …
Avoid in patients with history of sedative use disorder." Trigger (docs/clinical-reference.md §6c, §7g,
§7h): a gabapentin draft starting gabapentin (none in the 90 days before) and a sedative, hypnotic or
anxiolytic use disorder in the record in any clinical status or coded in remission (the guideline says history).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.clinical.declaration import Declaration, draft_of
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Finding

CARD_TYPE = "gabapentin-sud"
SOURCE_URL = "https://eguideline.guidelinecentral.com/i/1532950/23"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Gabapentin with a sedative use disorder",
    indicators=("warning",),
    rank=140,
    gates=(("a gabapentin draft", draft_of("gabapentin")),),
)


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    disorders = facts.patient.ever("sedative-use-disorder") + facts.patient.ever("sedative-use-disorder-in-remission")
    if not disorders:
        return
    for draft in facts.evaluated_drafts:
        if draft.product.drug_class != "gabapentin" or draft.ends_order or facts.continuing(draft):
            continue
        found = "; ".join(sorted({f"{p.display} ({'/'.join(p.codes)})" for p in disorders}))
        yield Finding(
            card_type=CARD_TYPE, indicator="warning",
            summary="Gabapentin with a sedative use disorder: misuse risk; prefer pausing or slowing the taper",
            detail="\n".join([
                f"**Order:** {draft.label} — gabapentin for a patient with a sedative use disorder.",
                "",
                f"**Why this card:** the record shows {found}.",
                "",
                "**Guidance:** The 2025 Joint Guideline lists gabapentin for anxiety-related withdrawal symptoms "
                "but advises avoiding it with a history of sedative use disorder (misuse risk; risk with opioids). "
                "Pausing or slowing the taper is the primary strategy (Table 10 note); treat the use disorder "
                "alongside the taper (rec. 20).",
            ]),
            order_id=draft.resource_id, source_url=SOURCE_URL,
        )

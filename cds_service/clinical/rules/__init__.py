"""One module per card type; each turns :class:`ClinicalFacts` into zero or more findings.

To add a rule: write ``rules/<card_type>.py`` exposing ``CARD_TYPE`` and ``evaluate(facts)``, then list
it in ``RULES`` below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds_service.clinical.rules import (
    abrupt_discontinuation,
    baclofen_adjunct,
    baclofen_cotherapy,
    benzodiazepine_duplication,
    carbamazepine_safety,
    conversion_ambiguity,
    dose_unreadable,
    gabapentin_sud,
    gabapentinoid_renal_dose,
    long_term_rate,
    older_adult,
    opioid_benzodiazepine,
    pregnancy_specialist,
    specialist_referral,
    taper_support,
    taper_too_fast,
    z_drug_during_taper,
)

if TYPE_CHECKING:
    from cds_service.clinical.facts import ClinicalFacts
    from cds_service.clinical.findings import Finding


@dataclass(frozen=True)
class Rule:
    card_type: str
    evaluate: Callable[[ClinicalFacts], Iterable[Finding]]


RULES: tuple[Rule, ...] = tuple(
    Rule(module.CARD_TYPE, module.evaluate)
    for module in (
        abrupt_discontinuation,
        pregnancy_specialist,
        taper_too_fast,
        long_term_rate,
        conversion_ambiguity,
        dose_unreadable,
        benzodiazepine_duplication,
        older_adult,
        specialist_referral,
        opioid_benzodiazepine,
        baclofen_adjunct,
        z_drug_during_taper,
        gabapentinoid_renal_dose,
        gabapentin_sud,
        carbamazepine_safety,
        baclofen_cotherapy,
        taper_support,
    )
)

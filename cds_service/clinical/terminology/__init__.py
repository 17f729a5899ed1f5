"""Terminology of the clinical core: products, equivalence tables, condition and LOINC code sets.

Data lives in the JSON files beside this module, with their sources in ``SOURCES.md``; it is loaded
once per process by :func:`load_terminology`.
"""

from cds_service.clinical.terminology.loader import (
    ICD10CM,
    LOINC,
    RXNORM,
    RXNORM_SYSTEMS,
    SNOMED,
    CodingLike,
    SimpleCoding,
    Terminology,
    load_terminology,
)

__all__ = ["ICD10CM", "LOINC", "RXNORM", "RXNORM_SYSTEMS", "SNOMED", "CodingLike", "SimpleCoding", "Terminology",
           "load_terminology"]

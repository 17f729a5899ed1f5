"""Getting the patient's record: prefetch, else the client's FHIR server; lenient parsing into R4B models."""

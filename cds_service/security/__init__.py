"""Client trust: JWT verification of CDS clients (cds-hooks.md §9.2)."""

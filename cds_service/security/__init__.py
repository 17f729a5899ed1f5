"""Client trust: JWT verification of CDS clients (CDS Hooks 2.0)."""

from flask import g


def current_client() -> str:
    """The verified JWT issuer of this request: the tenant that owns its card log, feedback, snooze and
    analytics. ``''`` when the call carried no token (``CDS_AUTH=off`` or ``optional``: development)."""
    return str(g.get("client", ""))

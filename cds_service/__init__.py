"""bzd-taper-cds: a CDS Hooks 2.0 service for benzodiazepine taper safety.

``create_app()`` is the WSGI entry point (``gunicorn 'cds_service:create_app()'``). The web app is imported only
when it is built, so that ``import cds_service.clinical`` (the pure clinical core) does not load Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application (:func:`cds_service.app.create_app`)."""
    from cds_service.app import create_app as build

    return build(test_config)

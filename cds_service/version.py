"""The installed package's version: what ``--version`` prints and what cards name as their knowledge version."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def package_version() -> str:
    try:
        return version("bzd-taper-cds")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"

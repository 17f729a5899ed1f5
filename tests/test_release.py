"""Releases: the package version is a released section of the CHANGELOG (newest first, each dated), and the
deployment files name the image of that version (CHANGELOG "Versions")."""

from __future__ import annotations

import re
from pathlib import Path

from cds_service.version import package_version

ROOT = Path(__file__).resolve().parents[1]
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
RELEASES = re.findall(r"^## \[(\d+)\.(\d+)\.(\d+)\] — (\d{4}-\d{2}-\d{2})$", CHANGELOG, flags=re.MULTILINE)


def test_the_changelog_has_an_unreleased_section_then_dated_releases_newest_first() -> None:
    headings = re.findall(r"^## .*$", CHANGELOG, flags=re.MULTILINE)
    assert headings[0] == "## [Unreleased]"
    assert len(headings) == len(RELEASES) + 1, "every other section is a dated release"
    versions = [tuple(int(n) for n in release[:3]) for release in RELEASES]
    assert versions == sorted(versions, reverse=True)
    assert [r[3] for r in RELEASES] == sorted((r[3] for r in RELEASES), reverse=True)


def test_the_package_version_is_the_newest_release() -> None:
    assert ".".join(RELEASES[0][:3]) == package_version()


def test_deployment_files_name_the_image_of_this_version() -> None:
    for path in ("deploy/k8s/deployment.yaml", "deploy/compose.yaml", "deploy/Dockerfile", "deploy/README.md"):
        tags = re.findall(r"bzd-taper-cds:(\d+\.\d+\.\d+)", (ROOT / path).read_text(encoding="utf-8"))
        assert tags and set(tags) == {package_version()}, path

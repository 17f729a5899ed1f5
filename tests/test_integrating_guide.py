"""docs/integrating.md agrees with the service: the service ids, prefetch templates, paths and settings it names
are the ones the service has."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from cds_service.services import SERVICES, prefetch_templates
from tests.test_settings_documented import README

GUIDE = (Path(__file__).resolve().parents[1] / "docs/integrating.md").read_text(encoding="utf-8")


def test_the_guide_names_every_service_with_its_hook() -> None:
    for service in SERVICES.values():
        assert f"| `{service.id}` | `{service.hook}` |" in GUIDE


def test_the_prefetch_templates_are_the_services() -> None:
    for key, template in prefetch_templates():
        shown = template.split("&code=")[0]
        assert f"| `{key}` | `{shown}" in GUIDE, key


def test_every_setting_named_is_a_documented_setting() -> None:
    named = set(re.findall(r"`((?:CDS_[A-Z0-9_]+)|DATABASE_URL)`", GUIDE))
    assert named and sorted(named - README.keys()) == []


def test_every_path_named_is_served(app: Flask) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    for path in set(re.findall(r"`(?:GET |POST |DELETE )?(/[a-z\-]+)[`/?]", GUIDE)):
        assert path in rules or path + "/<service_id>" in rules, path

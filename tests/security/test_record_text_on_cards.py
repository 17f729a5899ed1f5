"""Text from the patient's record reaches cards only as plain text: escaped, one line, capped (service
contract §9; the CDS Hooks sandbox renders card detail as Markdown)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from tests.conftest import HookCalls
from tests.utils.scenario_builder import build_request

HOSTILE = ("**bold**\n# Heading\r\n- item <script>alert(1)</script> [click](javascript:alert(1)) "
           "![i](https://e.example/x) refill at https://evil.example/r or www.evil.example \u202etxt.exe\u200b ")
LONG = "A" * 10_000


def _call() -> dict[str, Any]:
    return build_request({
        "name": "hostile-record-text",
        "patient": {"age": 45, "race": {"code": "2034-7", "display": "Chinese " + HOSTILE + LONG}},
        "history": [
            {"text": "diazepam 5 mg tablet " + HOSTILE + LONG, "tablets": 3, "per_day": 1, "authored": "2026-02-01",
             "status": "stopped", "id": "old"},
            {"text": "diazepam 5 mg tablet " + HOSTILE, "tablets": 2, "per_day": 1, "authored": "2026-03-02",
             "id": "cur", "prior": "old"},
        ],
        "conditions": [{"code": "F13.20", "system": "icd10", "text": "Sedative dependence " + HOSTILE + LONG},
                       {"code": "<script>x</script>", "system": "icd10", "display": HOSTILE}],
        "drafts": [
            {"text": "baclofen 10 mg tablet " + HOSTILE + LONG, "tablets": 1, "per_day": 3, "id": "bac"},
            {"drug": "gabapentin 100 MG Oral Capsule", "tablets": 1, "per_day": 1, "id": "gaba"},
            {"drug": "carbamazepine 200 MG Oral Tablet", "tablets": 1, "per_day": 2, "id": "cbz"},
        ],
    })


def _texts(card: dict[str, Any]) -> list[str]:
    texts = [card["summary"], card.get("detail", "")]
    for suggestion in card.get("suggestions", []):
        texts += [suggestion["label"], *(a["description"] for a in suggestion["actions"])]
    return texts


def test_record_text_cannot_add_markup_links_or_lines_to_cards(hooks: HookCalls) -> None:
    cards = hooks.cards(_call())
    shown = {card["source"]["topic"]["code"] for card in cards}
    assert {"baclofen-adjunct", "gabapentin-sud", "carbamazepine-safety"} <= shown
    for card in cards:
        for text in _texts(card):
            assert "<" not in text, "no HTML at all"
            assert not re.search(r"(?<!\\)\]\(", text), "no Markdown link or image"
            assert not re.search(r"(?<!\\)\*\*bold", text) and "\n# Heading" not in text and "\n- item" not in text
            assert "://" not in text and not re.search(r"www\.\w", text), "no URL or www. name a renderer would link"
            assert not any(unicodedata.category(c) == "Cf" for c in text), "no bidi-override or zero-width character"
            assert "A" * 200 not in text, "record text is capped"
            assert len(text) < 4_000
    detail = next(c for c in cards if c["source"]["topic"]["code"] == "baclofen-adjunct")["detail"]
    first_line = detail.split("\n")[0]
    assert first_line.startswith(
        "**Order:** baclofen 10 mg tablet \\*\\*bold\\*\\* # Heading - item &lt;script&gt;alert(1)&lt;/script&gt; "
        "\\[click\\](javascript\\[:\\]alert(1)) !\\[i\\](https\\[:\\]//e.e…")
    sud = next(c for c in cards if c["source"]["topic"]["code"] == "gabapentin-sud")["detail"]
    assert "Sedative dependence \\*\\*bold\\*\\* # Heading - item &lt;script&gt;alert(1)&lt;/script&gt;" in sud

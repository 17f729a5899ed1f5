"""The hot-path JSON encoder: orjson where it can, the standard library where orjson refuses."""

from __future__ import annotations

import json

from cds_service.json_codec import encode_json


def test_cards_encode_compactly_in_order() -> None:
    value = {"b": [1, 2.5, "×"], "a": {"z": None, "y": True}}
    assert encode_json(value) == '{"b":[1,2.5,"×"],"a":{"z":null,"y":true}}'.encode()
    assert json.loads(encode_json(value)) == value


def test_integers_beyond_64_bits_take_the_slow_path_with_the_same_result() -> None:
    value = {"valueInteger": 2**70, "a": 1}
    assert encode_json(value) == b'{"valueInteger":1180591620717411303424,"a":1}'

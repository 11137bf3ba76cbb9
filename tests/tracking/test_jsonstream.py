"""Reading a JSON array one element at a time: same values as json.loads, right lines, any block size."""

from __future__ import annotations

import io
import json
import random

import pytest

from newsletter.errors import InputError
from newsletter.tracking import jsonstream


def read(text: str, monkeypatch, block: int) -> list[tuple[int, object]]:
    monkeypatch.setattr(jsonstream, "BLOCK_CHARS", block)
    return list(jsonstream.iter_json_array(io.StringIO(text), subject="f.json"))


def test_elements_and_their_lines_whatever_the_block_size(monkeypatch):
    rng = random.Random(3)
    for _ in range(60):
        items = [{"n": rng.randint(-10, 10**12), "s": "é\n" * rng.randint(0, 2), "f": rng.random() * 10 ** rng.randint(-5, 5),
                  "l": [True, None, False, -0.5e-3], "t": "tr"} for _ in range(rng.randint(0, 8))]
        text = json.dumps(items, indent=rng.choice([None, 1, 2]))
        expected = read(text, monkeypatch, 1 << 20)
        assert [value for _, value in expected] == items
        for block in (1, 2, 3, 7, 64):  # elements, numbers and literals cut at every place
            assert read(text, monkeypatch, block) == expected
    lines = read('[\n{"a": 1},\n {"b": [1, 2, "x]"]},\n\n12345, "s", null, true\n]\n', monkeypatch, 5)
    assert lines == [(2, {"a": 1}), (3, {"b": [1, 2, "x]"]}), (5, 12345), (5, "s"), (5, None), (5, True)]


@pytest.mark.parametrize(("text", "where", "message"), [
    ("", "f.json:1", "expected a JSON array"),
    ('{"event": "open"}', "f.json:1", "expected a JSON array"),
    ("[1,\n2", "f.json:2", "the array is not closed"),
    ("[1,\n2,]", "f.json:2", "Expecting value"),
    ('[{"a": 1},\n{"b": 2 "c": 3}]', "f.json:2", "Expecting ',' delimiter"),
    ('[\n\n"abc', "f.json:3", "Unterminated string"),
    ("[1 2]", "f.json:1", "expected ',' or ']'"),
    ("[1]\nx", "f.json:2", "text after the array"),
    ("[" * 100_000 + "]" * 100_000, "f.json:1", "nested too deeply"),
])
def test_broken_arrays_name_their_line(monkeypatch, text, where, message):
    for block in (3, 1 << 20):
        with pytest.raises(InputError) as caught:
            read(text, monkeypatch, block)
        assert caught.value.subject == where and message in caught.value.message

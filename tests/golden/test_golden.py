"""The example issue composes to exactly the committed golden files.

After an intended change: ``make golden`` and review ``git diff tests/golden``.
"""

import importlib.util
from pathlib import Path

import pytest

from newsletter.compose import compose_issue, write_output

def _load_refresh():
    # The refresh script is the single definition of how golden files are made.
    spec = importlib.util.spec_from_file_location("golden_refresh", Path(__file__).with_name("refresh.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


refresh = _load_refresh()
EXAMPLE, HERE, golden_settings = refresh.EXAMPLE, refresh.HERE, refresh.golden_settings


@pytest.mark.parametrize("name", ["email.html", "email.txt", "meta.json"])
def test_matches_golden(name, tmp_path):
    folder = write_output(compose_issue(EXAMPLE, golden_settings()), tmp_path)
    expected = (HERE / folder.name / name).read_text(encoding="utf-8")
    actual = (folder / name).read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from tests/golden: run `make golden` if the change is intended"

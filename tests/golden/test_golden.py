"""The example issue composes to exactly the committed golden files.

After an intended change: ``make golden`` and review ``git diff tests/golden``.
"""

import pytest

from newsletter.compose import compose_issue, write_output
from tests.golden.refresh import EXAMPLE, HERE, golden_settings


@pytest.mark.parametrize("name", ["email.html", "email.txt", "meta.json"])
def test_matches_golden(name, tmp_path):
    folder = write_output(compose_issue(EXAMPLE, golden_settings()), tmp_path)
    expected = (HERE / folder.name / name).read_text(encoding="utf-8")
    actual = (folder / name).read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from tests/golden: run `make golden` if the change is intended"

"""The CLI reference cannot drift, and every command and option explains itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.cli.reference import render_reference, root_command, walk

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = list(walk(root_command()))


def test_docs_cli_md_is_up_to_date():
    stale = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") != render_reference()
    assert not stale, "docs/cli.md is stale: run `make docs` and commit the result"


def test_the_reference_covers_every_command():
    text = render_reference()
    assert len(COMMANDS) > 15  # the walk reaches nested commands, not just the root
    for path, _ in COMMANDS:
        assert f"\n## `{' '.join(path)}`\n" in text


@pytest.mark.parametrize("path, ctx", COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_every_command_and_option_has_help(path, ctx):
    command = ctx.command
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
    for param in command.get_params(ctx):
        if not getattr(param, "hidden", False):
            assert (getattr(param, "help", None) or "").strip(), f"{' '.join(path)}: {param.name} has no help text"

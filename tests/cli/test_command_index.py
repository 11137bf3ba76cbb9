"""The root's table of commands (``newsletter.cli.COMMANDS``) says what the command modules really register.

``newsletter --help`` lists the commands from that table, and each command is built from its own module only
when it is used, so the table must name every command, the module that registers it, and its help.
"""

from __future__ import annotations

import pkgutil

import pytest
import typer
from typer.testing import CliRunner

import newsletter.cli
from newsletter.cli import COMMANDS, commands_of

MODULES = sorted({module for module, _ in COMMANDS.values()})


def test_every_module_that_registers_commands_is_in_the_table():
    registering = {info.name for info in pkgutil.iter_modules(newsletter.cli.__path__)
                   if hasattr(__import__(f"newsletter.cli.{info.name}", fromlist=["register"]), "register")}
    assert registering == set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_the_table_names_what_each_module_registers_with_its_help(module):
    built = commands_of(module)
    assert sorted(built) == sorted(name for name, (owner, _) in COMMANDS.items() if owner == module)
    for name, command in built.items():
        first_paragraph = (command.help or "").split("\n\n")[0].replace("\n", " ").strip()
        assert COMMANDS[name][1] == first_paragraph, f"COMMANDS[{name!r}]: copy its help's first paragraph"


def test_the_listing_is_the_one_the_built_commands_would_give():
    """The listing from COMMANDS is the text click's own listing gives over the built commands (all loaded)."""
    root = typer.main.get_command(newsletter.cli.app)
    built = typer.core.TyperGroup(name="newsletter", commands={name: root.commands[name] for name in COMMANDS})
    for width in (60, 80, 120):
        texts = []
        for group, listing in ((built, typer.core.TyperGroup.format_commands), (root, type(root).format_commands)):
            ctx = typer.Context(group, info_name="newsletter", terminal_width=width, max_content_width=width)
            formatter = ctx.make_formatter()
            listing(group, ctx, formatter)
            texts.append(formatter.getvalue())
        assert texts[0] == texts[1] and "  db " in texts[0]


def test_unknown_commands_are_not_found_and_suggested():
    result = CliRunner().invoke(newsletter.cli.app, ["sned"])
    assert result.exit_code == 2 and "No such command 'sned'. Did you mean 'send', 'sends'?" in result.output

"""The CLI reference (docs/cli.md), written from the commands' own ``--help``.

``make docs`` runs ``python -m newsletter.cli.reference docs/cli.md``; a test
fails when the file differs from what this module renders, so the reference
cannot drift from the code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import typer

#: Help is wrapped at this width whatever the terminal, so the output is stable.
WIDTH = 100

HEADER = """# Command-line reference

<!-- Generated from the commands' own help by `make docs`
     (python -m newsletter.cli.reference docs/cli.md). Do not edit by hand. -->

Every command prints this with `--help`. Settings (`NEWSLETTER_*`, `SMTP_*`, `SENDGRID_*`) are
explained in [.env.example](../.env.example).
"""


def walk(command: typer.core.TyperGroup | typer.core.TyperCommand, path: tuple[str, ...] = ("newsletter",),
         parent: typer.Context | None = None) -> Iterator[tuple[tuple[str, ...], typer.Context]]:
    """Every command under ``command`` (itself first) as ``(path, context)``, in the order ``--help`` lists them."""
    ctx = typer.Context(command, info_name=path[-1], parent=parent, terminal_width=WIDTH, max_content_width=WIDTH)
    yield path, ctx
    if not isinstance(command, typer.core.TyperGroup):
        return
    for name in command.list_commands(ctx):
        sub = command.commands[name]
        assert isinstance(sub, (typer.core.TyperGroup, typer.core.TyperCommand))  # typer made every command
        if not sub.hidden:
            yield from walk(sub, (*path, name), ctx)


def root_command() -> typer.core.TyperGroup:
    """The click command behind ``newsletter``."""
    from newsletter.cli import app

    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)  # the app has subcommands
    return command


def render_reference() -> str:
    """docs/cli.md as it should be: a heading and the ``--help`` text of every command."""
    parts = [HEADER]
    for path, ctx in walk(root_command()):
        parts.append(f"\n## `{' '.join(path)}`\n\n```text\n{ctx.command.get_help(ctx).rstrip()}\n```\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Write the reference to the file named on the command line (default docs/cli.md)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "docs/cli.md")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_reference(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()

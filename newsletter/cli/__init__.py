"""The ``newsletter`` command: a thin shell over the library.

Each command module below registers its commands on ``app``; a command reads
its options, calls one library function and prints the result. Errors from the
library (``NewsletterError``) become one line on stderr and an exit status in
``NewsletterGroup.invoke`` – never a traceback. Heavy libraries are imported
inside the commands that use them so ``newsletter --help`` stays instant.
"""

from __future__ import annotations

import os
import sys

import click
import typer
from typer.core import TyperGroup

from newsletter import __version__
from newsletter.errors import NewsletterError

#: Exit status for a bug in the tool itself (sysexits' EX_SOFTWARE).
EXIT_INTERNAL = 70


class NewsletterGroup(TyperGroup):
    """The root command group; turns library errors into one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # a bug: still no traceback unless asked for
            if os.environ.get("NEWSLETTER_DEBUG"):
                raise
            typer.echo(
                f"Internal error: {type(exc).__name__}: {exc} (set NEWSLETTER_DEBUG=1 for details)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None


app = typer.Typer(
    cls=NewsletterGroup,
    name="newsletter",
    help="Write, review and send an email newsletter from Markdown issues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"newsletter {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Write, review and send an email newsletter from Markdown issues.

    Settings come from the environment and ./.env (see .env.example).
    """


def _register_all() -> None:
    from newsletter.cli import audience, compose, delivery, review, subscribers, tracking

    for module in (compose, review, subscribers, audience, delivery, tracking):
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="newsletter")
    sys.exit(0)

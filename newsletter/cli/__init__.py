"""The ``newsletter`` command: a thin shell over the library.

Each command module below registers its commands on ``app``; a command reads
its options, calls one library function and prints the result. Errors from the
library (``NewsletterError``) become one line on stderr and an exit status in
``NewsletterGroup.invoke`` – never a traceback. Heavy libraries are imported
inside the commands that use them so ``newsletter --help`` stays instant.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from newsletter import __version__
from newsletter.errors import ExitStatus, NewsletterError

#: Exit status for a bug in the tool itself (sysexits' EX_SOFTWARE).
EXIT_INTERNAL = int(ExitStatus.INTERNAL)


class NewsletterGroup(TyperGroup):
    """The root command group; turns library errors into one-line messages."""

    # The base class names the Context of typer's private copy of click; typer.Context is what it passes.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(ExitStatus.INTERRUPTED) from None
        except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
            # Usage errors (typer's bundled click raises them as TyperException
            # subclasses): typer prints the usage line and the message, exit 2.
            # A closed pipe (`... | head`) is not a bug either: typer exits quietly.
            raise
        except Exception as exc:  # a bug: still no traceback unless asked for
            if _debugging():
                raise
            typer.echo(
                f"Internal error: {type(exc).__name__}: {exc} (set NEWSLETTER_DEBUG=1 for details)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None


def _debugging() -> bool:
    """Whether NEWSLETTER_DEBUG asks for tracebacks (no, if the settings cannot be read)."""
    from newsletter.settings import load_settings

    try:
        return load_settings().newsletter_debug
    except NewsletterError:
        return False


app = typer.Typer(
    cls=NewsletterGroup,
    name="newsletter",
    help="Write, review and send an email newsletter from Markdown issues.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
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
    from newsletter.cli import audience, compose, db, delivery, init_repo, release, review, subscribers, tracking

    for module in (init_repo, compose, review, subscribers, audience, delivery, release, tracking, db):
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="newsletter")
    sys.exit(0)

"""The ``newsletter`` command: a thin shell over the library.

Each command module (``COMMANDS`` names them) registers its commands; a
command reads its options, calls one library function and prints the result.
A command's module is loaded only when that command runs, and heavy libraries
only inside the commands that use them, so start-up stays short. Errors from
the library (``NewsletterError``) become one line on stderr and an exit status
in ``NewsletterGroup.invoke`` – never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from newsletter import __version__
from newsletter.errors import ExitStatus, NewsletterError

#: Exit status for a bug in the tool itself (sysexits' EX_SOFTWARE).
EXIT_INTERNAL = int(ExitStatus.INTERNAL)


#: Every command, in the order ``newsletter --help`` lists them: the module of ``newsletter/cli/`` whose
#: ``register`` adds it, and the first paragraph of its help, which the listing shows. A command loads only
#: its own module, and the listing none (each module costs start-up; all of them about 20 ms).
#: tests/cli/test_command_index.py keeps this table equal to what the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init_repo", "Create a newsletter repository: a first issue, a layout to customise, settings, CI. "
                          "Never overwrites."),
    "compose": ("compose", "Compose an issue into OUT/<slug>/email.html, email.txt and meta.json."),
    "check": ("compose", "Run the checks on an issue and print its build id. Exit 0 clean, 1 on errors "
                         "(or warnings with --strict)."),
    "new": ("review", "Write issues/<date>-<slug>.md with the team's frontmatter and a skeleton body."),
    "preview": ("review", "Serve a live preview of ISSUE that rebuilds when it or its layout changes."),
    "screenshot": ("review", "Write PNGs of ISSUE at 375 and 600 px, light and dark, with headless Chromium."),
    "form": ("audience", "Print an HTML signup form for LIST to paste into your website."),
    "send": ("delivery", "Send an issue to a list, each subscriber exactly once (re-run to resume), now or "
                         "--at a time."),
    "sends": ("delivery", "List sends with their status and counts (derived from the delivery ledger), and "
                          "scheduled times."),
    "test-send": ("delivery", "Send reviewers a [TEST] copy with sample values (not recorded as a send)."),
    "approve": ("release", "Approve this exact build of an issue for an audience (written beside the issue: "
                           "commit it)."),
    "approvals": ("release", "List an issue's approvals and whether each still matches the build as it is now."),
    "cancel": ("release", "Cancel a scheduled send before it starts (for SendGrid: until 10 minutes before its "
                          "time)."),
    "pause": ("release", "Pause a send: a running one stops after the batches in flight; a scheduled one does "
                         "not start."),
    "resume": ("release", "Resume a paused send (a worker's send goes back to the workers; others continue "
                          "here)."),
    "worker": ("release", "Start scheduled sends and send welcome emails and sequence steps when they are due; "
                          "several workers may share the database."),
    "pick": ("release", "Pick the winner of a send's subject test (--pick manual, or before its wait ends) and send "
                        "it to the rest."),
    "serve": ("tracking", "Run the tracking server: one-click unsubscribe, SendGrid webhook, open/click "
                          "tracking."),
    "archive": ("archive", "The web archive of sent issues: indexes, a page per issue, Atom feeds, a sitemap."),
    "stats": ("tracking", "Show what each send did: deliveries, bounces, opens, clicks, unsubscribes, top links."),
    "subscribers": ("subscribers", "Import, add, unsubscribe, reactivate, list, show, export and erase subscribers."),
    "lists": ("audience", "Show lists; create or change them (title, public signup, welcome email, sequences)."),
    "segments": ("audience", "Show saved segments; save one (members of a list whose attributes match)."),
    "sequences": ("sequences", "Show welcome emails and sequences and where each member stands; restart one for "
                               "some people; pause and resume one."),
    "events": ("tracking", "Provider events (for teams that cannot expose the webhook)."),
    "bounces": ("bounces", "Bounces of SMTP sends: read the bounce mailbox into the ledger (hard, soft, complaints)."),
    "db": ("db", "The database: status, migrations, copying a whole store between SQLite and PostgreSQL."),
}

#: How every command is built: plain click help (no rich), errors handled by NewsletterGroup.
TYPER_SETTINGS: dict[str, Any] = {"pretty_exceptions_enable": False, "rich_markup_mode": None}


class NamedArgument(TyperArgument):
    """An argument written as ISSUE (or its metavar) in usage lines and help, as click writes them;
    typer 0.28 writes ``{issue}``. ``[SEND]`` when optional, ``FILES...`` when repeated."""

    def make_metavar(self, ctx: typer.Context, *, usage: bool = False) -> str:  # type: ignore[override]
        var = self.metavar or (self.name or "").upper()
        if self.nargs != 1 and not var.endswith("..."):
            var += "..."
        return f"[{var}]" if usage and not self.required and not var.startswith("[") else var

    @property
    def human_readable_name(self) -> str:
        """How errors name it: "Missing argument 'ISSUE'"."""
        return self.metavar or (self.name or "").upper()


def _name_arguments(command: Any) -> None:
    """Every argument of ``command`` and its subcommands becomes a ``NamedArgument``."""
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = NamedArgument  # same fields; only how it is written changes
    for sub in getattr(command, "commands", {}).values():
        _name_arguments(sub)


def commands_of(module: str) -> dict[str, typer.core.TyperCommand | TyperGroup]:
    """The click commands that ``newsletter/cli/<module>.py`` registers, by name."""
    registry = typer.Typer(add_completion=False, **TYPER_SETTINGS)  # completion is the root's option
    importlib.import_module(f"newsletter.cli.{module}").register(registry)
    built = typer.main.get_command(registry)
    _name_arguments(built)
    if isinstance(built, TyperGroup):
        return dict(built.commands)  # type: ignore[arg-type]  # typer built each of them
    return {built.name or "": built}  # type: ignore[dict-item]  # one command: typer returns it alone


class LazyCommands(Mapping[str, Any]):
    """The root's commands by name (COMMANDS' order), each built from its module the first time it is used."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built and name in COMMANDS:
            self._built.update(commands_of(COMMANDS[name][0]))
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class NewsletterGroup(TyperGroup):
    """The root command group: builds a command when it is used; turns library errors into one-line messages."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands()  # type: ignore[assignment]  # read-only: nothing adds commands later

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        """The command listing of ``newsletter --help``, from COMMANDS: it loads no command module."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [(name, TyperCommand(name, help=text).get_short_help_str(limit))
                for name, (_, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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
        except Exception as exc:  # a bug: still no traceback unless asked for, and always the documented status
            if _debugging():
                import traceback

                traceback.print_exc()
                raise typer.Exit(EXIT_INTERNAL) from None
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
    **TYPER_SETTINGS,
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


def main() -> None:
    """Console-script entry point."""
    app(prog_name="newsletter")
    sys.exit(0)

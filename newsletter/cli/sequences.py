"""``newsletter sequences [show|restart]``: welcome emails and sequences, and where each member stands.
(``lists set --welcome/--sequence`` attaches them: ``cli/audience.py``.)"""

from __future__ import annotations

import typer

from newsletter.cli.common import JSON_HELP, JSONL_HELP, command_settings, echo_json, echo_json_rows

sequences_app = typer.Typer(
    name="sequences",
    help="Show welcome emails and sequences and where each member stands; restart one for some people.",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@sequences_app.callback()
def sequences(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show every welcome email and sequence: list, name, version, how many are enrolled."""
    if ctx.invoked_subcommand is not None:
        return
    from newsletter.release.sequences import list_sequences

    rows = list_sequences(command_settings())
    if as_json:
        echo_json_rows(rows, lines=False)
        return
    if not rows:
        typer.echo("No sequences yet (attach one: `newsletter lists set LIST --welcome issues/welcome.md` "
                   "or `--sequence sequences/NAME.toml`).")
    for row in rows:
        typer.echo(f"{row['list']}\t{row['name']}\tversion {row['version']}\t{row['enrolled']} enrolled\t{row['path']}")


@sequences_app.command("show")
def show(
    name: str = typer.Argument(..., help="The sequence ('welcome' for the welcome email).", show_default=False),
    list_name: str | None = typer.Option(None, "--list", help="The list (needed when several lists have NAME)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    member_rows: bool = typer.Option(False, "--members", help="Where each member stands, one line each "
                                                               "(streamed; --jsonl for JSON Lines)."),
    as_jsonl: bool = typer.Option(False, "--jsonl", help=JSONL_HELP + " With --members."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="With --members: at most this many lines."),
) -> None:
    """Show a sequence's steps with their counts (waiting, due, sent, suppressed, failed, in doubt), or with
    --members where each member stands."""
    import itertools

    from newsletter.release import sequences as library

    config = command_settings()
    if member_rows:
        rows = itertools.islice(library.members(name, config, list_name=list_name), limit)
        if as_json or as_jsonl:
            echo_json_rows(rows, lines=as_jsonl)
            return
        for row in rows:
            typer.echo(f"{row['email']}\tround {row['round']}\tversion {row['version']}\t{row['stands']}\t"
                       f"entered {row['entered_at']}")
        return
    view = library.show(name, config, list_name=list_name)
    if as_json or as_jsonl:
        echo_json(view.as_dict())
        return
    typer.echo(f"Sequence {view.name!r} of list {view.list_name} ({view.path}), version {view.version}: "
               f"{view.enrolled} enrolled on the list, {view.finished} finished")
    typer.echo("STEP\tISSUE\tWHEN\tWAITING\tDUE\tPENDING\tSENT\tSUPPRESSED\tSKIPPED\tFAILED\tIN DOUBT")
    for s in view.steps:
        where = f" where {s.where}" if s.where else ""
        typer.echo(f"{s.number}\t{s.issue}\t{s.delay}{where}\t{s.waiting}\t{s.due}\t{s.pending}\t{s.sent}\t"
                   f"{s.suppressed}\t{s.skipped}\t{s.failed}\t{s.in_doubt}")
    for s in view.steps:  # only while sends need approvals
        if s.approval:
            typer.echo(f"Step {s.number}: {s.approval}" + (f": {s.held} member(s) due wait for it" if s.held else ""))


@sequences_app.command("restart")
def restart(
    name: str = typer.Argument(..., help="The sequence ('welcome' for the welcome email).", show_default=False),
    emails: list[str] = typer.Argument(..., metavar="EMAIL", help="Subscribers to start it again for.",
                                       show_default=False),
    list_name: str | None = typer.Option(None, "--list", help="The list (needed when several lists have NAME)."),
) -> None:
    """Start a sequence again, from its first step, for these subscribers (a new round: they receive every
    step again, each once)."""
    from newsletter.release.sequences import restart as start_again

    n = start_again(name, emails, command_settings(), list_name=list_name)
    typer.echo(f"Sequence {name!r} starts again for {n} subscriber(s) at the worker's next look.")


def register(app: typer.Typer) -> None:
    """Add ``sequences`` to the root app."""
    app.add_typer(sequences_app)

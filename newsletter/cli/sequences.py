"""``newsletter sequences [show|restart|pause|resume]``: welcome emails and sequences, and where each member stands.
(``lists set --welcome/--sequence`` attaches them: ``cli/audience.py``.)"""

from __future__ import annotations

import typer

from newsletter.cli.common import JSON_HELP, JSONL_HELP, command_settings, echo_json, echo_json_rows

sequences_app = typer.Typer(
    name="sequences",
    help="Show welcome emails and sequences and where each member stands; restart one for some people; "
         "pause and resume one.",
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
        paused = f"\tpaused by {row['paused_by'] or 'someone'} at {row['paused_at']}" if row["paused_at"] else ""
        typer.echo(f"{row['list']}\t{row['name']}\tversion {row['version']}\t{row['enrolled']} enrolled\t{row['path']}"
                   + paused)


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
    if view.paused_at:
        typer.echo(f"Paused by {view.paused_by or 'someone'} at {view.paused_at}: nothing goes out until "
                   f"`newsletter sequences resume {view.name} --list {view.list_name}` (steps fall due meanwhile).")
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


NAME_ARG = typer.Argument(..., help="The sequence ('welcome' for the welcome email).", show_default=False)
LIST_OPT = typer.Option(None, "--list", help="The list (needed when several lists have NAME).")
AS_OPT = typer.Option(None, "--as", help="Who you are, 'Name <address>' [default: git's user.name and user.email].")


@sequences_app.command("pause")
def pause(name: str = NAME_ARG, list_name: str | None = LIST_OPT, as_: str | None = AS_OPT) -> None:
    """Pause a sequence: a step being sent stops after the batches in flight and no step goes out until it is
    resumed; members keep joining and being enrolled, and their steps fall due as usual. Exit 2: no such
    sequence; exit 1: it is paused already."""
    from newsletter.cli.common import actor
    from newsletter.release.sequence_pause import pause as pause_sequence

    typer.echo(pause_sequence(name, command_settings(), actor=actor(as_), list_name=list_name))


@sequences_app.command("resume")
def resume(name: str = NAME_ARG, list_name: str | None = LIST_OPT, as_: str | None = AS_OPT) -> None:
    """Resume a paused sequence: every step that fell due meanwhile goes out at the worker's next look (each
    still once per member; nobody who left is mailed). Exit 2: no such sequence; exit 1: it is not paused."""
    from newsletter.cli.common import actor
    from newsletter.release.sequence_pause import resume as resume_sequence

    typer.echo(resume_sequence(name, command_settings(), actor=actor(as_), list_name=list_name))


def register(app: typer.Typer) -> None:
    """Add ``sequences`` to the root app."""
    app.add_typer(sequences_app)

"""``newsletter lists [create|update|set]``, ``newsletter segments [save]`` and ``newsletter form``."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import JSON_HELP, command_settings, echo_json_rows

lists_app = typer.Typer(
    name="lists",
    help="Show lists; create or change them (title, public signup, welcome email, sequences).",
    invoke_without_command=True,
    rich_markup_mode=None,
)
segments_app = typer.Typer(
    name="segments",
    help="Show saved segments; save one (members of a list whose attributes match).",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@lists_app.callback()
def lists(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show every list: members, active and pending counts, signup on/off, title."""
    if ctx.invoked_subcommand is not None:
        return
    from newsletter.audience.members import list_lists

    rows = list_lists(command_settings())
    if as_json:
        echo_json_rows(rows, lines=False)
        return
    if not rows:
        typer.echo("No lists yet (create one with `newsletter lists create NAME` or "
                   "`newsletter subscribers import FILE --list NAME`).")
    for row in rows:
        signup = "signup on" if row["signup"] else "signup off"
        title = f"\t{row['title']}" if row["title"] else ""
        typer.echo(f"{row['name']}\t{row['members']} members\t{row['active']} active\t{row['pending']} pending\t"
                   f"{signup}{title}")


def _describe(info: dict) -> str:
    return f"{info['name']}: title {info['title']!r}, signup {'on' if info['signup'] else 'off'}"


@lists_app.command("create")
def create(
    name: str = typer.Argument(..., help="The list's name (used in URLs: /subscribe/NAME).", show_default=False),
    title: str = typer.Option("", "--title", help="The name readers see (form, confirmation email)."),
    signup: bool = typer.Option(False, "--signup", help="Accept public signups (double opt-in) on `serve`."),
) -> None:
    """Create a list."""
    from newsletter.audience.lists import create_list

    typer.echo("Created " + _describe(create_list(name, command_settings(), title=title, signup=signup)))


@lists_app.command("update")
def update(
    name: str = typer.Argument(..., help="The list's name.", show_default=False),
    title: str | None = typer.Option(None, "--title", help="New title."),
    signup: bool | None = typer.Option(None, "--signup/--no-signup", help="Accept public signups or not."),
) -> None:
    """Change a list's title or whether it accepts signups."""
    from newsletter.audience.lists import update_list

    typer.echo("Updated " + _describe(update_list(name, command_settings(), title=title, signup=signup)))


@lists_app.command("set")
def set_(
    name: str = typer.Argument(..., help="The list's name.", show_default=False),
    welcome: Path | None = typer.Option(None, "--welcome", help="An issue file: whoever joins receives it once."),
    no_welcome: bool = typer.Option(False, "--no-welcome", help="Take the welcome email off the list."),
    sequence: Path | None = typer.Option(None, "--sequence", help="A sequence file (TOML) to attach or update."),
    no_sequence: str | None = typer.Option(None, "--no-sequence", metavar="NAME", help="Take sequence NAME off."),
) -> None:
    """Give a list a welcome email or a sequence (sent by `newsletter worker` to whoever joins), or take one
    off. Issue paths in a sequence file start at the current folder."""
    from newsletter.errors import InputError
    from newsletter.release import sequences

    given = [welcome is not None, no_welcome, sequence is not None, no_sequence is not None]
    if sum(given) != 1:
        raise InputError("give exactly one of --welcome, --no-welcome, --sequence and --no-sequence", subject=name)
    config = command_settings()
    if welcome is not None:
        attached = sequences.attach_welcome(name, welcome, config)
    elif sequence is not None:
        attached = sequences.attach_file(name, sequence, config)
    if welcome is not None or sequence is not None:
        typer.echo(attached.line())
        for line in attached.approval_lines(config.newsletter_required_approvals):  # nothing goes out before
            typer.echo(line)
    else:
        removed = sequences.WELCOME if no_welcome else str(no_sequence)
        if not sequences.detach(name, removed, config):
            raise InputError(f"the list has no sequence {removed!r} (see `newsletter sequences`)", subject=name)
        typer.echo(f"Sequence {removed!r} taken off list {name}: nobody enrols any more, no step is sent")


def form(list_name: str = typer.Argument(..., metavar="LIST", help="A list with signup on.", show_default=False)) -> None:
    """Print an HTML signup form for LIST to paste into your website."""
    from newsletter.audience.lists import form_snippet

    typer.echo(form_snippet(list_name, command_settings()), nl=False)


@segments_app.callback()
def segments(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show every saved segment: list, conditions, matching active members."""
    if ctx.invoked_subcommand is not None:
        return
    from newsletter.audience.segments import list_segments

    found = list_segments(command_settings())
    if as_json:
        echo_json_rows((info.as_dict() for info in found), lines=False)
        return
    for info in found:
        typer.echo(f"{info.name}\tlist {info.list}\t{' '.join(str(c) for c in info.conditions)}\t{info.members} members")
    if not found and not as_json:
        typer.echo("No segments yet (save one with `newsletter segments save NAME --list LIST --where KEY=VALUE`).")


@segments_app.command("save")
def save(
    name: str = typer.Argument(..., help="The segment's name.", show_default=False),
    list_name: str = typer.Option(..., "--list", help="The list it selects from."),
    where: list[str] = typer.Option(..., "--where", help="KEY=VALUE or KEY!=VALUE on subscriber attributes; repeat for AND."),
) -> None:
    """Save (or replace) a segment: members of --list matching every --where."""
    from newsletter.audience.segments import save_segment

    action, info = save_segment(name, list_name, where, command_settings())
    typer.echo(f"Segment {info.name!r} {action}: list {info.list}, "
               f"{' '.join(str(c) for c in info.conditions)}, {info.members} members now")


def register(app: typer.Typer) -> None:
    """Add ``lists``, ``segments`` and ``form`` to the root app."""
    app.add_typer(lists_app)
    app.add_typer(segments_app)
    app.command("form")(form)

"""``newsletter subscribers import|add|unsubscribe|reactivate|list|show|export|erase|purge-pending``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer

from newsletter.cli.common import JSON_HELP, JSONL_HELP, ProgressReporter, command_settings, echo_json_rows

#: The choices of ``--status``: the store's STATUSES (a test keeps them equal), named
#: here so that starting the CLI does not load the store.
SubscriberStatus = Literal["active", "unsubscribed", "bounced", "complained", "pending"]

subscribers_app = typer.Typer(
    name="subscribers",
    help="Import, add, unsubscribe, reactivate, list, show, export and erase subscribers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@subscribers_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="CSV file with a header row; 'email' required, 'name' optional.", show_default=False),
    list_name: str = typer.Option(..., "--list", help="List to put the subscribers on (created if new)."),
    last_wins: bool = typer.Option(False, "--last-wins", help="When an address repeats with another name, keep the last row's (default: the first's)."),
    welcome: bool = typer.Option(False, "--welcome", help="Enrol whoever the import makes a member in the list's welcome email and sequences (without it, nobody is)."),
) -> None:
    """Import subscribers from a CSV file (invalid rows are reported and skipped; repeated addresses merge
    into their first row, and a repeat with another name is reported by line)."""
    from newsletter.audience.members import import_csv

    with ProgressReporter("Importing", "subscribers") as progress:
        result = import_csv(file, list_name, command_settings(), progress=progress, last_wins=last_wins,
                            welcome=welcome)
    for line, reason in result.invalid:
        typer.echo(f"{file}:{line}: skipped: {reason}", err=True)
    if result.invalid_count > len(result.invalid):
        typer.echo(f"{file}: {result.invalid_count - len(result.invalid)} more invalid rows not shown", err=True)
    for conflict in result.conflict_lines():
        typer.echo(f"{file}: {conflict}", err=True)
    if result.conflict_count > len(result.conflicts):
        typer.echo(f"{file}: {result.conflict_count - len(result.conflicts)} more conflicting repeats not shown", err=True)
    typer.echo(
        f"List {result.list_name!r}: {result.added} added, {result.updated} updated, "
        f"{result.invalid_count} invalid, {result.suppressed} suppressed"
        + (f", {result.duplicates} duplicate rows merged" if result.duplicates else "")
        + (f", {result.enrolled} enrolled in welcome emails and sequences" if welcome else "")
    )


@subscribers_app.command("add")
def add(
    email: str = typer.Argument(..., help="The address.", show_default=False),
    list_name: str = typer.Option(..., "--list", help="List to put the subscriber on (created if new)."),
    name: str = typer.Option("", "--name", help="The subscriber's name."),
    welcome: bool = typer.Option(False, "--welcome", help="Enrol them in the list's welcome email and sequences if this makes them a member."),
) -> None:
    """Add one subscriber (or update their name) and put them on a list."""
    from newsletter.audience.members import add_subscriber

    result = add_subscriber(email, list_name, command_settings(), name=name, welcome=welcome)
    note = "" if result.status == "active" else f" (status stays {result.status})"
    enrolled = f", enrolled in {result.enrolled} sequence(s)" if welcome else ""
    typer.echo(f"{result.email}: {result.action}, on list {result.list_name!r}{note}{enrolled}")


@subscribers_app.command("unsubscribe")
def unsubscribe(email: str = typer.Argument(..., help="The address.", show_default=False)) -> None:
    """Mark a subscriber unsubscribed: they are never sent to again."""
    from newsletter.audience.members import unsubscribe as unsubscribe_address

    previous = unsubscribe_address(email, command_settings())
    if previous == "active":
        typer.echo(f"{email.strip()}: unsubscribed")
    else:
        typer.echo(f"{email.strip()}: already {previous}")


@subscribers_app.command("reactivate")
def reactivate(
    email: str = typer.Argument(..., help="The address.", show_default=False),
    complained: bool = typer.Option(False, "--complained", help="Also undo a spam complaint (only on the person's word)."),
) -> None:
    """Undo a bounce suppression (after the address was fixed): the subscriber is sent to again."""
    from newsletter.tracking.bounces.suppression import reactivate as reactivate_address

    result = reactivate_address(email, command_settings(), complained=complained)
    typer.echo(f"{result.email}: reactivated (was {result.previous})" if result.reactivated
               else f"{result.email}: already active")


@subscribers_app.command("list")
def list_(
    list_name: str = typer.Option(None, "--list", help="Only members of this list."),
    status: SubscriberStatus | None = typer.Option(None, "--status", help="Only subscribers with this status."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    as_jsonl: bool = typer.Option(False, "--jsonl", help=JSONL_HELP),
) -> None:
    """List subscribers (email, status, name)."""
    from newsletter.audience.members import list_subscribers

    rows = list_subscribers(command_settings(), list_name=list_name, status=status)
    if as_json or as_jsonl:
        echo_json_rows((row.as_dict() for row in rows), lines=as_jsonl)
        return
    count = 0
    for row in rows:
        count += 1
        typer.echo(f"{row.email}\t{row.status}\t{row.name}")
    typer.echo(f"{count} subscriber(s)", err=True)


@subscribers_app.command("show")
def show(
    email: str = typer.Argument(..., help="The address.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a subscriber with their lists, consent records (how and when they joined and left) and bounces."""
    from newsletter.audience.consent import show_subscriber

    info = show_subscriber(email, command_settings())
    if as_json:
        typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{info['email']}\t{info['status']}\t{info['name']}\tsince {info['created_at']}")
    if info.get("status_reason") and info["status"] != "active":
        typer.echo(f"  why: {info['status_reason']}")
    for b in info.get("bounces", []):
        code = " ".join(part for part in (b["class"], b["status"]) if part)
        typer.echo(f"  {b['type']} {b['at']} send {b['send_id'] or '-'} ({b['source']}): {code}"
                   + (f" - {b['diagnostic']}" if b["diagnostic"] else "") + (f" [{b['decision']}]" if b["decision"] else ""))
    for m in info["memberships"]:
        typer.echo(f"  list {m['list']}: {m['status']} (since {m['since']})")
    for c in info["consents"]:
        how = c["method"] + (f" ({c['source']})" if c["source"] else "")
        line = f"  consent {c['list']}: {how}, requested {c['requested_at']}, confirmed {c['confirmed_at'] or '-'}"
        if c["consent_sha256"]:
            line += f", text sha256 {c['consent_sha256'][:12]}…"
        if c["ip"]:
            line += f", ip {c['ip'][:24]}"
        if c["left_at"]:
            line += f", left {c['left_at']} ({c['left_how']})"
        typer.echo(line)


@subscribers_app.command("export")
def export(
    email: str = typer.Argument(..., help="The address.", show_default=False),
    out: Path = typer.Option(None, "--out", help="Write the JSON to this file instead of standard output."),
) -> None:
    """Everything held about one person as JSON (profile, memberships, consent, deliveries, events)."""
    from newsletter.audience.consent import export_subscriber

    text = json.dumps(export_subscriber(email, command_settings()), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {out}", err=True)


@subscribers_app.command("erase")
def erase(email: str = typer.Argument(..., help="The address.", show_default=False)) -> None:
    """Erase a person's data for good; only a keyed hash stays, so no import can add the address again."""
    from newsletter.audience.consent import erase_subscriber

    result = erase_subscriber(email, command_settings())
    if result.found:
        files = f"; {result.files_removed} outbox file(s) removed" if result.files_removed else ""
        typer.echo(f"{result.email}: erased (the row is now {result.placeholder}; address on the suppression list"
                   f"{files})")
    else:
        typer.echo(f"{result.email}: not held; put on the suppression list so no import can add it")


@subscribers_app.command("purge-pending")
def purge_pending(
    days: int = typer.Option(None, "--days", help="Age in days (default NEWSLETTER_PENDING_DAYS)."),
) -> None:
    """Delete signups that were not confirmed within the given number of days."""
    from newsletter.audience.consent import purge_pending as purge

    typer.echo(f"{purge(command_settings(), days)} unconfirmed signup(s) deleted")


def register(app: typer.Typer) -> None:
    """Add ``subscribers`` to the root app (``lists`` is in ``cli/audience.py``)."""
    app.add_typer(subscribers_app)

"""Pausing and resuming a sequence or welcome email (``newsletter sequences pause|resume NAME``).

Paused means *due rows are not written*: while a sequence is paused the worker writes no ledger row of its
steps and runs none of its step sends, and a step send in progress on any worker stops after the batches
in flight (its run's stop event, ``pause_watch.PauseWatch``, reads the pause between batches, as ``newsletter pause``
does for a send). Members keep joining and being enrolled; their steps fall due as usual, by the same
delays, and the due query (``store.sequences.queue_due``) takes everyone due *up to now*, so on resume
every step that fell due during the pause goes out at the worker's next look, none is skipped, and each
(member, step) still once. Someone who left meanwhile gets no row (the due query takes members on the
list only), and a row written before the pause is suppressed by the claim if they left.

Why not "written but not run": rows written during a pause would fix each member's conditions (``where``)
and their place in the sequence at a time nothing goes out, and ``sequences show`` would count them as
pending when they are waiting; rows not written leave the sequence exactly as it was, only later.
"""

from __future__ import annotations

from typing import Any

from newsletter.release import ReleaseRefused
from newsletter.release.clock import Clock, stamp, system_clock
from newsletter.settings import Settings


def _command(sequence: dict[str, Any], verb: str) -> str:
    return f"`newsletter sequences {verb} {sequence['name']} --list {sequence['list']}`"


def pause(name: str, settings: Settings, *, actor: str, list_name: str | None = None,
          clock: Clock = system_clock) -> str:
    """Pause sequence ``name``; return what was done. ``InputError`` if there is no such sequence,
    ``ReleaseRefused`` if it is paused already (nothing changes)."""
    from newsletter.release.sequences import _one
    from newsletter.store import audit, session, transaction
    from newsletter.store import sequences as store

    now = stamp(clock())
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        sequence = _one(conn, name, list_name)
        with transaction(conn):
            if not store.set_paused(conn, sequence["id"], paused=True, by=actor, now=now):
                row = store.find(conn, sequence["name"], sequence["list"])[0]
                raise ReleaseRefused(f"already paused (by {row['paused_by'] or 'someone'} at {row['paused_at']}); "
                                     f"{_command(sequence, 'resume')} resumes it", subject=name)
            audit.add(conn, "pause", _logged(sequence), at=now, actor=actor, detail="sequence paused")
    return (f"Paused sequence {sequence['name']!r} of list {sequence['list']}: a step being sent stops after the "
            f"batches in flight and nothing more goes out until {_command(sequence, 'resume')}; "
            "members keep being enrolled.")


def resume(name: str, settings: Settings, *, actor: str, list_name: str | None = None,
           clock: Clock = system_clock) -> str:
    """Resume sequence ``name``: every step due goes out at the worker's next look. ``InputError`` if there
    is no such sequence, ``ReleaseRefused`` if it is not paused."""
    from newsletter.release.sequences import _one
    from newsletter.store import audit, session, transaction
    from newsletter.store import sequences as store

    now = stamp(clock())
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        sequence = _one(conn, name, list_name)
        with transaction(conn):
            if not store.set_paused(conn, sequence["id"], paused=False, now=now):
                raise ReleaseRefused("it is not paused", subject=name)
            audit.add(conn, "resume", _logged(sequence), at=now, actor=actor,
                      detail=f"sequence resumed (paused by {sequence['paused_by'] or 'someone'} "
                             f"at {sequence['paused_at']})")
    return (f"Resumed sequence {sequence['name']!r} of list {sequence['list']}: every step due now goes out at the "
            "worker's next look.")


def _logged(sequence: dict[str, Any]) -> Any:
    """The audit log names a sequence as its ledger audience ('sequence:NAME'), with no send."""
    from newsletter.store import audit
    from newsletter.store.sequences import audience_key

    return audit.Logged(None, audience_key(sequence["name"]), sequence["list"])


def refuse_step_send(conn: Any, send_id: int) -> None:
    """``ReleaseRefused`` naming the sequence when ``send_id`` is a step of one (``newsletter pause SEND``:
    a step's send is paused with its sequence); nothing if it is any other send."""
    from newsletter.store import sequences as store

    sequence = store.of_send(conn, send_id)
    if sequence is not None:
        raise ReleaseRefused(f"this send is a step of sequence {sequence['name']!r} of list {sequence['list']}: "
                             f"pause or resume the sequence ({_command(sequence, 'pause')})", subject=str(send_id))

"""Benchmark: the SQL of welcome emails and sequences for a large list.

On a fresh database (SQLite, or PostgreSQL with ``--database postgresql://...``): a list of N members
(default 200,000) who joined in one import, and a sequence of two steps attached. Measures:

- enrolling the whole import (``enrol_joined``: one statement);
- the first step's due query when everyone is due: counting them, and writing their N ledger rows
  (``queue_due``: one statement, then moving everyone on);
- what every worker look costs afterwards, when nobody is due (everyone waits on step 2's delay): the
  due queries of both steps and the next due time (``StepRunner.next_due``).

    .venv/bin/python bench/sequences.py [--members 200000] [--database URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from newsletter.release.clock import stamp
from newsletter.release.sequence_steps import StepRunner, _positions
from newsletter.settings import load_settings
from newsletter.store import connect, sequences, transaction
from newsletter.store.sends import SendVersion

JOINED = "2026-12-01T08:00:00Z"
STEPS = '[{"issue": "/a.md", "after_joining": 0, "after_previous": null, "where": []},' \
        ' {"issue": "/b.md", "after_joining": null, "after_previous": 259200, "where": ["plan=pro"]}]'


def timed(label: str, work):
    started = time.perf_counter()
    result = work()
    print(f"{label}: {time.perf_counter() - started:.3f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-sequences-"))
    database = args.database or str(folder / "bench.db")
    (folder / "a.md").write_text("---\ntitle: A\n---\nA\n")
    (folder / "b.md").write_text("---\ntitle: B\n---\nB\n")
    conn = connect(database)
    n = args.members
    with transaction(conn):
        conn.execute("INSERT INTO lists (id, name, created_at) VALUES (1, 'news', ?)", (JOINED,))
        conn.executemany(
            "INSERT INTO subscribers (id, email, email_key, name, attributes, status, created_at, updated_at)"
            " VALUES (?, ?, ?, '', ?, 'active', ?, ?)",
            ((i, f"p{i}@example.org", f"p{i}@example.org", '{"plan": "pro"}' if i % 2 else "{}", JOINED, JOINED)
             for i in range(1, n + 1)))
        conn.executemany(
            "INSERT INTO memberships (list_id, subscriber_id, created_at, status, updated_at)"
            " VALUES (1, ?, ?, 'active', ?)", ((i, JOINED, JOINED) for i in range(1, n + 1)))
    conn.dialect.refresh_statistics(conn, ("subscribers", "memberships"))
    sequence_id, _, _ = sequences.attach(conn, sequences.Attachment(
        1, "onboarding", "file", str(folder / "seq.toml"), str(folder),
        STEPS.replace("/a.md", str(folder / "a.md")).replace("/b.md", str(folder / "b.md")), "d"))
    print(f"{n:,} members, {conn.dialect.name}")

    def enrol() -> int:
        with transaction(conn):
            return sequences.enrol_joined(conn, 1, since=JOINED)

    assert timed("enrol the whole import (one statement)", enrol) == n
    conn.dialect.refresh_statistics(conn, ("enrolments",))
    first = sequences.create_step_send(conn, "a", 1, "sequence:onboarding", SendVersion("x", "A", [], "outbox"))
    due = sequences.DueStep(sequence_id, 1, 1, 1, 0, first, 0, "2026-12-01T09:00:00Z", None)
    assert timed("count the members due for step 1", lambda: sequences.count_due(conn, due)) == n
    assert timed("write their ledger rows (queue_due)", lambda: sequences.queue_due(conn, due)) == n
    with transaction(conn):  # step 1 went out
        conn.execute("UPDATE deliveries SET state = 'accepted', updated_at = ? WHERE send_id = ?", (JOINED, first))
    conn.dialect.refresh_statistics(conn, ("deliveries", "enrolments"))
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # a day later: step 2 waits three days
    sequence = sequences.attached(conn)[0]

    def look() -> int:
        return sum(sequences.queue_due(conn, d, now=stamp(now)) for d, _ in _positions(conn, sequence, now))

    assert timed("a worker's look when nobody is due (both steps)", look) == 0
    settings = load_settings({}).with_overrides(newsletter_database=database)
    moment = timed("the next due time (next_due)", StepRunner(settings, clock=lambda: now).next_due)
    print(f"  next due: {moment}")
    conn.close()


if __name__ == "__main__":
    main()

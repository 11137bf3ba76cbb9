"""Helpers for tests about databases of either kind (``from tests.databases import ...``)."""

from __future__ import annotations

import multiprocessing
from typing import Any


def open_together(target: str, processes: int = 6) -> list[int | None]:
    """Open ``target`` (migrating it) from ``processes`` forked processes released at one moment; their exit codes."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    procs = [context.Process(target=_open_at_barrier, args=(target, barrier)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    return [p.exitcode for p in procs]


def _open_at_barrier(target: str, barrier: Any) -> None:
    from newsletter.store import connect

    barrier.wait()
    connect(target).close()


def migration_versions(target: str) -> list[int]:
    """The migrations recorded in ``target``, in order."""
    from newsletter.store import connect

    conn = connect(target, migrate_schema=False)
    try:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        conn.close()

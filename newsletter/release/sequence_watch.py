"""The stop event of a sequence step's run: a pause of the sequence (``sequences pause``) sets it.

Its own module so that the worker's step runner (``sequence_steps``) needs nothing of ``sequence_pause``.
"""

from __future__ import annotations

import threading
from typing import Any


class SequencePause(threading.Event):
    """A step run's stop event: set by the worker (SIGTERM), or by a pause of the sequence in the store.

    The run loop asks ``is_set()`` between batches; that is when the store is read (one small query a batch).
    """

    def __init__(self, outer: threading.Event, conn: Any, sequence_id: int) -> None:
        super().__init__()
        self.outer, self.conn, self.sequence_id = outer, conn, sequence_id
        self.paused = False

    def is_set(self) -> bool:
        if self.outer.is_set():
            return True
        if not self.paused:
            from newsletter.store import sequences as store

            self.paused = store.is_paused(self.conn, self.sequence_id)
        return self.paused

    def set(self) -> None:
        self.outer.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.outer.wait(timeout) or self.is_set()


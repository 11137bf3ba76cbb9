"""A run's stop event that also reads a pause from the store: ``newsletter pause SEND`` (the gate's hooks)
and ``sequences pause NAME`` (a step's run) stop a run this way, on whichever host it runs."""

from __future__ import annotations

import threading
from collections.abc import Callable


class PauseWatch(threading.Event):
    """The run's stop event: set by the caller (Ctrl-C, SIGTERM), or once ``paused()`` reads a pause in the store.

    The run loop asks ``is_set()`` between batches; that is when the store is read (one small query a batch,
    and none once it has said paused).
    """

    def __init__(self, outer: threading.Event, paused: Callable[[], bool]) -> None:
        super().__init__()
        self.outer, self.paused_in_store = outer, paused
        self.paused = False

    def is_set(self) -> bool:
        if self.outer.is_set():
            return True
        if not self.paused:
            self.paused = self.paused_in_store()
        return self.paused

    def set(self) -> None:
        self.outer.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.outer.wait(timeout) or self.is_set()

"""Helpers for every test package (``from tests.helpers import wait_until``).

Tests never sleep to let something happen: they poll for the thing itself with
a deadline, here, so every wait in the suite fails the same way and says what
it was waiting for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.02,
    message: str | Callable[[], str] = "the condition never came true",
    *,
    abort: Callable[[], str | None] | None = None,
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``condition()`` every ``interval`` seconds until it returns a true value, and return that value.

    Fails (AssertionError) with ``message`` (or what it returns, when it is a
    function) once ``timeout`` seconds have passed. ``abort``, if given, is
    called whenever the condition is still false: it returns ``None`` to keep
    waiting, or the message to fail with at once (the process or thread that
    should make the condition true has ended). ``pause`` waits between calls:
    Playwright's sync API handles its events only while one of its own calls
    runs, so a test with a page passes ``lambda s: page.wait_for_timeout(s * 1000)``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if abort is not None:
            why = abort()
            if why is not None:
                raise AssertionError(why)
        if time.monotonic() >= deadline:
            raise AssertionError(message() if callable(message) else message)
        pause(interval)

"""The suite's own waiting helper (tests/helpers.py): every polling wait in the tests goes through it."""

from __future__ import annotations

import itertools

import pytest

from tests.helpers import wait_until


def test_returns_the_first_true_value_of_the_condition():
    answers = iter([None, [], ["found.eml"]])
    pauses: list[float] = []
    assert wait_until(lambda: next(answers), interval=0.5, pause=pauses.append) == ["found.eml"]
    assert pauses == [0.5, 0.5]  # asked three times, waited between


def test_fails_with_its_message_once_the_time_is_up():
    calls = itertools.count()
    with pytest.raises(AssertionError, match="^the server did not start$"):
        wait_until(lambda: next(calls) < 0, timeout=0.05, interval=0.01, message="the server did not start")
    with pytest.raises(AssertionError, match=r"^still \[\] after"):
        wait_until(lambda: False, timeout=0, message=lambda: "still [] after the deadline")


def test_abort_ends_the_wait_at_once_with_its_reason():
    pauses: list[float] = []
    rounds = iter([None, "the process ended early: exit 1"])
    with pytest.raises(AssertionError, match="^the process ended early: exit 1$"):
        wait_until(lambda: False, timeout=60, abort=lambda: next(rounds), pause=pauses.append)
    assert len(pauses) == 1  # one round kept waiting, the next gave up without waiting out the 60 s

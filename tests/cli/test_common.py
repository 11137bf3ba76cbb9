"""The shared CLI helpers: the progress reporter and JSON output."""

from __future__ import annotations

import io
import json

import pytest

from newsletter.cli.common import ProgressReporter, echo_json_rows


class FakeClock:
    """A clock the test moves by hand, so no test waits for real seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_a_line_every_interval():
    out, clock = io.StringIO(), FakeClock()
    with ProgressReporter("Importing", "rows", interval=5, stream=out, clock=clock) as progress:
        progress(100, 1000)
        clock.now += 4.9
        progress(490, 1000)
        assert out.getvalue() == ""  # nothing before the interval has passed
        clock.now += 0.1
        progress(500, 1000)
        assert out.getvalue() == "Importing: 500/1,000 rows (50%), 100 rows/s\n"
        clock.now += 1
        progress(600, 1000)
        clock.now += 5
        progress(900, 1000)
        clock.now += 1
        progress(1000, 1000)
    assert out.getvalue().splitlines()[1:] == [
        "Importing: 900/1,000 rows (90%), 82 rows/s",
        "Importing: 1,000/1,000 rows (100%), 83 rows/s",  # the closing line: the final count
    ]


def test_short_work_prints_nothing_without_a_terminal():
    out = io.StringIO()
    with ProgressReporter("Importing", stream=out, clock=FakeClock()) as progress:
        progress(10, 10)
    assert out.getvalue() == ""


def test_unknown_total():
    out, clock = io.StringIO(), FakeClock()
    with ProgressReporter("Reading", "events", interval=1, stream=out, clock=clock) as progress:
        clock.now += 2
        progress(5000)
    assert out.getvalue().splitlines()[0] == "Reading: 5,000 events, 2,500 events/s"


def test_on_a_terminal_a_bar(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    with ProgressReporter("Importing", "rows", stream=out, terminal=True) as progress:
        progress(3, 7)
        progress(7, 7)
    assert "Importing" in out.getvalue() and "7/7" in out.getvalue() and "\x1b[" in out.getvalue()


def _rows(count: int):
    return ({"n": i, "name": "Zoë"} for i in range(count))


@pytest.mark.parametrize("count", [0, 1, 3])
def test_json_rows_are_one_array(capsys, count):
    assert echo_json_rows(_rows(count), lines=False) == count
    assert json.loads(capsys.readouterr().out) == list(_rows(count))


def test_jsonl_rows_are_lines(capsys):
    echo_json_rows(_rows(2), lines=True)
    assert capsys.readouterr().out == '{"n": 0, "name": "Zoë"}\n{"n": 1, "name": "Zoë"}\n'


def test_a_bar_shows_no_rate_until_it_means_something(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out, clock = io.StringIO(), FakeClock()
    with ProgressReporter("Sending", "messages", stream=out, terminal=True, clock=clock) as progress:
        progress(0, 200)
        assert "messages/s" not in out.getvalue()  # at the start: no "0 messages/s"
        clock.now += 2
        progress(200, 200)
    text = out.getvalue()
    assert "100 messages/s" in text and "0 messages/s" not in text.replace("100 messages/s", "")


def test_a_line_without_work_done_has_no_rate():
    out, clock = io.StringIO(), FakeClock()
    with ProgressReporter("Sending", "messages", interval=1, stream=out, clock=clock) as progress:
        clock.now += 2
        progress(0, 10)
    assert out.getvalue() == "Sending: 0/10 messages (0%)\n"

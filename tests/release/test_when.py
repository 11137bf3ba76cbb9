"""``--at`` as people type it: ISO 8601 with seconds, a T, or an offset; daylight-saving refusals kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.errors import InputError
from newsletter.release.when import parse_at

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"


@pytest.mark.parametrize("text", ["2026-12-07 17:50", "2026-12-07T17:50", "2026-12-07 17:50:00",
                                  "2026-12-07T17:50:00", "  2026-12-07t17:50  "])
def test_a_wall_clock_time_in_the_zone(text):
    assert parse_at(text, BERLIN, "", NOW).utc == datetime(2026, 12, 7, 16, 50, tzinfo=UTC)


def test_seconds_are_kept():
    moment = parse_at("2026-12-07T17:50:56", BERLIN, "", NOW)
    assert moment.utc == datetime(2026, 12, 7, 16, 50, 56, tzinfo=UTC) and moment.zone == BERLIN


def test_an_offset_fixes_the_moment_and_the_zone_only_shows_it():
    moment = parse_at("2026-12-07T17:50+01:00", "America/New_York", "", NOW)
    assert moment.utc == datetime(2026, 12, 7, 16, 50, tzinfo=UTC)
    assert moment.local() == "2026-12-07 11:50 EST"
    # no zone anywhere: the offset is enough, shown in UTC
    assert parse_at("2026-12-07 17:50:56Z", None, "", NOW).local() == "2026-12-07 17:50 UTC"
    assert parse_at("2026-12-07T18:50-05:00", None, BERLIN, NOW).utc == datetime(2026, 12, 7, 23, 50, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-12-07", "tomorrow", "2026-13-07 10:00", "2026-12-07 25:00", "17:50",
                                  "2026-12-07 17:50 +01:00 extra"])
def test_what_is_not_a_time_is_refused_with_the_format(text):
    with pytest.raises(InputError, match="is not a time: write"):
        parse_at(text, BERLIN, "", NOW)


def test_daylight_saving_refusals_still_hold_with_seconds():
    with pytest.raises(InputError, match="does not exist in Europe/Berlin"):
        parse_at("2035-03-25T02:30:10", BERLIN, "", NOW)
    with pytest.raises(InputError, match="happens twice in Europe/Berlin"):
        parse_at("2035-10-28 02:30:00", BERLIN, "", NOW)
    # an offset says which of the two it is: no longer ambiguous
    assert parse_at("2035-10-28T02:30+01:00", BERLIN, "", NOW).utc == datetime(2035, 10, 28, 1, 30, tzinfo=UTC)


def test_a_past_moment_with_an_offset_is_refused():
    with pytest.raises(InputError, match="is not in the future"):
        parse_at("2026-12-07T12:30+01:00", None, "", NOW)

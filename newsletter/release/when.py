"""When a scheduled send goes out: ``--at "YYYY-MM-DD HH:MM"`` in a named time zone.

ISO 8601 as people type it is accepted too: seconds, a ``T`` between date and
time, and an offset (``2026-12-07T17:50+01:00``), which fixes the moment on its
own (the zone then only says how the time is shown).

A wall-clock time that the zone skips (spring forward) or passes twice (fall
back) is refused with a message saying so: a send is never moved an hour
silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from newsletter.durations import parse_duration
from newsletter.errors import InputError
from newsletter.settings import zone

#: A date, ``T`` or a space, hours and minutes, optional seconds (and fraction), optional offset or ``Z``.
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE)


def _offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class Moment:
    """A scheduled moment: in UTC, and the zone it was given in."""

    utc: datetime
    zone: str

    def local(self, zone_name: str = "") -> str:
        """'2026-12-02 09:00 CET' in ``zone_name`` (default: the zone it was given in)."""
        return local_text(self.utc, zone_name or self.zone)


def local_text(moment: datetime, zone_name: str) -> str:
    """``moment`` as wall-clock time with the zone's abbreviation ('2026-12-02 09:00 CET')."""
    shown = moment.astimezone(zone(zone_name) if zone_name else UTC)
    return shown.strftime("%Y-%m-%d %H:%M ") + (shown.tzname() or zone_name)


def parse_at(text: str, zone_name: str | None, default_zone: str, now: datetime) -> Moment:
    """The moment ``--at text`` names in ``zone_name`` (else ``default_zone``); ``InputError`` if unusable.

    Refused: a malformed time, no zone, a time the zone skips or passes twice
    (daylight saving), a time not in the future.
    """
    text = text.strip()
    wall = _wall_time(text)
    name = zone_name or default_zone
    if wall.tzinfo is not None:  # an offset names the moment itself; the zone only says how it is shown
        if zone_name:
            zone(zone_name, subject="--tz")
        moment = wall.astimezone(UTC)
        shown = name or "UTC"
        if moment <= now:
            raise InputError(f"{text} is not in the future (now: {local_text(now, shown)}); "
                             "to send now, leave out --at", subject="--at")
        return Moment(moment, shown)
    if not name:
        raise InputError("a time zone is needed: pass --tz (such as Europe/Berlin) or set NEWSLETTER_TIMEZONE",
                         subject="--tz")
    tz = zone(name, subject="--tz" if zone_name else "NEWSLETTER_TIMEZONE")
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        raise InputError(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {name}: the clocks jump forward over it "
            f"(from {_offset(first.utcoffset())} to {_offset(second.utcoffset())}); choose a time outside the gap",
            subject="--at",
        )
    if first.utcoffset() != second.utcoffset():
        raise InputError(
            f"{wall:%Y-%m-%d %H:%M} happens twice in {name}: once at {_offset(first.utcoffset())} and again at "
            f"{_offset(second.utcoffset())} after the clocks go back; choose a time outside that hour",
            subject="--at",
        )
    moment = first.astimezone(UTC)
    if moment <= now:
        raise InputError(f"{wall:%Y-%m-%d %H:%M} {name} is not in the future (now: {local_text(now, name)}); "
                         "to send now, leave out --at", subject="--at")
    return Moment(moment, name)


def _wall_time(text: str) -> datetime:
    """``text`` as a datetime (naive unless it carries an offset); ``InputError`` if it is not a date and time."""
    if _ISO.fullmatch(text):
        try:
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:
            pass  # a month 13 or a 25th hour: the same message as any other malformed time
    raise InputError(f"{text!r} is not a time: write \"YYYY-MM-DD HH:MM\", such as \"2026-12-02 09:00\" "
                     "(seconds, a T and an offset such as +01:00 are fine too)", subject="--at")


#: The longest ``--after`` accepted: a reminder a year on is a new issue.
AFTER_MAX = timedelta(days=365)


def parse_after(text: str) -> timedelta:
    """The delay ``--after text`` names ('3d', '12h', '1d12h', '90m', '2w'); ``InputError`` if unusable."""
    delay = parse_duration(text, "--after")
    if not delay or delay > AFTER_MAX:
        raise InputError(f"{text!r} must be more than nothing and at most {AFTER_MAX.days} days", subject="--after")
    return delay


def after_moment(finished_at: str, delay: timedelta, zone_name: str, now: datetime, source_id: int) -> Moment:
    """The moment a resend ``--after delay`` goes out: ``delay`` after its source send finished
    (``finished_at``, stored UTC text); ``InputError`` when that is not in the future."""
    from newsletter.release.clock import parse_stamp

    moment = parse_stamp(finished_at) + delay
    shown = zone_name or "UTC"
    if moment <= now:
        raise InputError(f"send {source_id} finished at {local_text(parse_stamp(finished_at), shown)}, so that is "
                         f"{local_text(moment, shown)}, which is past; to send now, leave out --after",
                         subject="--after")
    return Moment(moment, shown)

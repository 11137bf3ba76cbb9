"""Durations as people write them: ``30m``, ``4h``, ``3d``, ``1d12h``, ``2w`` (``0`` for at once).

The one parser of every delay the tool takes: a resend's ``--after``, a
subject test's ``--wait`` and a sequence step's ``after_joining`` /
``after_previous``. Each caller adds its own bounds.
"""

from __future__ import annotations

import re
from datetime import timedelta

from newsletter.errors import InputError

#: A duration as people write it: '0', '90s', '15m', '1h', '3d', '2w', or several together ('1d12h').
_DURATION = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, subject: str = "duration") -> timedelta:
    """``'3d'``, ``'1h30m'``, ``'0'`` as a ``timedelta``; ``InputError`` naming ``subject`` otherwise."""
    raw = str(text).strip()
    if raw == "0":
        return timedelta()
    parts = _DURATION.findall(raw)
    if not raw or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", raw):
        raise InputError(f"{text!r} is not a duration: write a number and a unit, s, m, h, d or w "
                         "(such as 30m, 1h, 3d or 1d12h; 0 for at once)", subject=subject)
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))

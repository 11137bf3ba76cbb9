"""Lists as the audience sees them: a title, and whether the public may sign up.

``newsletter lists create|update`` and ``newsletter form`` call these.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from newsletter.errors import InputError
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.store import DB

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_TITLE = 200


def _open(settings: Settings) -> DB:
    from newsletter.store import connect

    return connect(settings.newsletter_database)


def check_name(name: str) -> str:
    """A list name fit for a URL path segment; ``InputError`` otherwise."""
    name = (name or "").strip()
    if not name or len(name) > 100 or _CONTROL.search(name) or "/" in name:
        raise InputError("a list needs a name of at most 100 characters, without '/' or control characters",
                         subject=name or "NAME")
    return name


def check_title(title: str | None) -> str | None:
    """A list title (or ``None``: unchanged); ``InputError`` if it has control characters or is too long."""
    if title is None:
        return None
    title = title.strip()
    if _CONTROL.search(title) or len(title) > MAX_TITLE:
        raise InputError(f"must be at most {MAX_TITLE} characters, without control characters", subject="--title")
    return title


def create_list(name: str, settings: Settings, *, title: str = "", signup: bool = False) -> dict[str, Any]:
    """Create list ``name``; ``InputError`` if it exists. Returns it as ``get_list`` does."""
    from newsletter.store import subscribers as people
    from newsletter.store import transaction

    name, title = check_name(name), check_title(title) or ""
    conn = _open(settings)
    try:
        with transaction(conn):
            if people.find_list(conn, name) is not None:
                raise InputError("a list of that name exists (change it with `newsletter lists update`)", subject=name)
            people.save_list(conn, name, title=title, signup=signup)
        return _saved(conn, name)
    finally:
        conn.close()


def _saved(conn: DB, name: str) -> dict[str, Any]:
    from newsletter.store import subscribers as people

    found = people.get_list(conn, name)
    assert found is not None  # just saved, and lists are not removed
    return found


def update_list(name: str, settings: Settings, *, title: str | None = None, signup: bool | None = None) -> dict[str, Any]:
    """Change a list's title and/or signup flag (``None``: unchanged); ``InputError`` if there is no such list."""
    from newsletter.store import subscribers as people
    from newsletter.store import transaction

    title = check_title(title)
    conn = _open(settings)
    try:
        with transaction(conn):
            if people.find_list(conn, name) is None:
                raise InputError("no such list (see `newsletter lists`)", subject=name)
            people.save_list(conn, name, title=title, signup=signup)
        return _saved(conn, name)
    finally:
        conn.close()


def form_snippet(name: str, settings: Settings) -> str:
    """The HTML signup form for list ``name`` to paste into a website; ``InputError`` unless it accepts signups."""
    from newsletter.audience.forms import snippet
    from newsletter.store import subscribers as people

    conn = _open(settings)
    try:
        info = people.get_list(conn, name)
    finally:
        conn.close()
    if info is None:
        raise InputError("no such list (see `newsletter lists`)", subject=name)
    if not info["signup"]:
        raise InputError(f"signup is off for this list (turn it on: newsletter lists update {name} --signup)", subject=name)
    return snippet(info, settings)

"""Build identity: one id for everything a subscriber receives, and to whom it goes.

A build is the composed issue minus per-recipient values – subject,
preheader, sender, reply-to, HTML, text, links, layout – plus the audience
definition (``store.segments.Audience``: the list and the segment's or
``--where`` conditions). Each part is hashed;
the build id is the hash of those hashes, so two builds can be compared part
by part (``changes``) and an approval names exactly what the approver saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult
    from newsletter.settings import Settings
    from newsletter.store.segments import Audience

VERSION = 1
#: The parts of a build, in the order changes are named.
PARTS = ("subject", "preheader", "from", "reply_to", "html", "text", "links", "layout", "audience")


def _sha256(value: str | bytes) -> str:
    return hashlib.sha256(value.encode("utf-8") if isinstance(value, str) else value).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Build:
    """A build's id, the hash of each part, and the facts that say how much a part changed."""

    id: str
    parts: dict[str, str]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def short(self) -> str:
        """The first 12 hex digits, as printed."""
        return self.id[:12]

    @property
    def audience(self) -> Audience:
        """The audience this build is for."""
        from newsletter.store.segments import Audience

        return Audience.from_dict(self.facts.get("audience"))

    def as_dict(self) -> dict[str, Any]:
        """Everything, for approvals and the store."""
        return {"id": self.id, "parts": dict(self.parts), "facts": dict(self.facts)}

    def as_meta(self) -> dict[str, Any]:
        """What ``meta.json`` holds: the id, the audience and each part's hash."""
        return {"id": self.id, "audience": self.audience.as_dict() if self.audience.list_name else None,
                "parts": dict(self.parts)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Build:
        """Back from ``as_dict``."""
        return cls(str(data.get("id", "")), dict(data.get("parts") or {}), dict(data.get("facts") or {}))


#: The audience of a build of the content alone (``Audience().as_dict()``, without loading the store).
_NO_AUDIENCE: dict[str, Any] = {"list": "", "where": []}


def identify(result: ComposeResult, audience: Audience | None = None) -> Build:
    """The build of a composed issue for ``audience`` (none: the content alone)."""
    issue = result.issue
    audience_dict = audience.as_dict() if audience is not None else _NO_AUDIENCE
    links = [[link.kind, link.url] for link in result.links]
    values: dict[str, Any] = {
        "subject": issue.subject,
        "preheader": issue.preheader,
        "from": result.sender,
        "reply_to": result.reply_to,
        "links": links,
        "audience": audience_dict,
    }
    parts = {name: _sha256(_canonical(value)) for name, value in values.items()}
    parts["html"] = _sha256(result.html)
    parts["text"] = _sha256(result.text)
    parts["layout"] = _sha256(_canonical([issue.layout, result.layout_sha256]))
    parts = {name: parts[name] for name in PARTS}
    build_id = _sha256(_canonical({"v": VERSION, "parts": parts}))
    facts = {
        "subject": issue.subject,
        "preheader": issue.preheader,
        "from": result.sender,
        "reply_to": result.reply_to,
        "html_bytes": len(result.html.encode("utf-8")),
        "text_bytes": len(result.text.encode("utf-8")),
        "links": [url for _, url in links],
        "layout": issue.layout,
        "audience": audience_dict,
    }
    return Build(build_id, parts, facts)


def _quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _few(urls: list[str]) -> str:
    return ", ".join(urls[:2]) + (" ..." if len(urls) > 2 else "")


def _size(delta: int) -> str:
    return f"{delta:+,} bytes" if delta else "same size"


def changes(before: Build, now: Build) -> list[str]:
    """What differs from ``before`` to ``now``, one phrase per part, with how much ('' parts equal)."""
    found = []
    old, new = before.facts, now.facts
    for part in PARTS:
        if before.parts.get(part) == now.parts.get(part):
            continue
        if part in ("subject", "preheader", "from", "reply_to"):
            found.append(f"{part} ({_quote(str(old.get(part, '')))} -> {_quote(str(new.get(part, '')))})")
        elif part in ("html", "text"):
            delta = int(new.get(f"{part}_bytes", 0)) - int(old.get(f"{part}_bytes", 0))
            found.append(f"{part.upper() if part == 'html' else part} ({_size(delta)})")
        elif part == "links":
            was, is_ = set(old.get("links") or ()), set(new.get("links") or ())
            added, removed = sorted(is_ - was), sorted(was - is_)
            bits = [f"{len(added)} added ({_few(added)})"] if added else []
            bits += [f"{len(removed)} removed ({_few(removed)})"] if removed else []
            detail = ", ".join(bits) or "reordered"
            found.append(f"links ({detail})")
        elif part == "layout":
            name_old, name_new = old.get("layout", ""), new.get("layout", "")
            same = name_old == name_new
            found.append(f"layout ({name_new}: its templates changed)" if same else f"layout ({name_old} -> {name_new})")
        else:
            found.append(f"audience ({before.audience.describe()} -> {now.audience.describe()})")
    return found


def build_of(result: ComposeResult, settings: Settings, list_name: str | None = None, where: Iterable[str] = (),
             segment: str | None = None) -> Build:
    """The build ``compose`` and ``check`` print: the content, plus the audience when a list is given.

    Without a list it needs nothing else: ``compose`` loads no database for it.
    """
    if list_name is None:
        return identify(result)
    from newsletter.store.segments import resolve

    if not segment:  # conditions alone need no database
        return identify(result, resolve(None, list_name, where))
    from newsletter.store import session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        return identify(result, resolve(conn, list_name, where, segment))

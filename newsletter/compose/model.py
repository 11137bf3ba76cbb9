"""Data passed between the compose stages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One check result: a stable ``code``, a severity and the place it concerns."""

    code: str
    severity: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        place = f"{self.where}: " if self.where else ""
        return f"{place}{self.severity}: {self.message} [{self.code}]"

    def without_severity(self, subject: str = "") -> str:
        """The finding for a line that already says its severity ('warning: ...', 'not sending: ...'):
        no severity, and no place when it is ``subject`` itself (``subject:12`` becomes 'line 12')."""
        place = self.where
        if subject and place == subject:
            place = ""
        elif subject and place.startswith(subject + ":"):
            place = "line " + place[len(subject) + 1:]
        return f"{place}: {self.message} [{self.code}]" if place else f"{self.message} [{self.code}]"

    def as_dict(self) -> dict[str, str]:
        """JSON-friendly form, as written to ``meta.json``."""
        return {"code": self.code, "severity": self.severity, "message": self.message, "where": self.where}


@dataclass
class Issue:
    """A parsed issue source: frontmatter plus Markdown body."""

    path: Path
    slug: str
    meta: dict[str, Any]
    body: str
    body_line: int  # 1-based line of the file where the Markdown body starts
    subject: str = ""
    preheader: str = ""
    web_url: str = ""
    base_url: str = ""
    categories: list[str] = field(default_factory=list)
    layout: str = "default"
    utm: bool = True
    lang: str = "en"
    dir: str = "ltr"  # the document's writing direction: "ltr" or "rtl"
    archive: str = "public"  # its place in the web archive: "public", "unlisted" or "none"


@dataclass
class Link:
    """A link or image URL of the issue after resolution, with its source line."""

    url: str
    original: str
    text: str
    line: int
    kind: str = "link"  # "link" or "image"


@dataclass
class ComposeResult:
    """Everything compose produced for one issue."""

    issue: Issue
    html: str
    text: str
    links: list[Link]
    findings: list[Finding]
    sender: str = ""
    reply_to: str = ""  # NEWSLETTER_REPLY_TO as composed (part of the build identity)
    layout_sha256: str = ""  # the layout's templates (``layout.layout_digest``)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for bench/compose.py

    @property
    def html_sha256(self) -> str:
        """Hex SHA-256 of the HTML as written, identifying this version of the issue."""
        return hashlib.sha256(self.html.encode("utf-8")).hexdigest()

    @property
    def errors(self) -> list[Finding]:
        """Findings that must stop a send."""
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """Findings worth a look that do not stop a send."""
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def web_links(self) -> list[str]:
        """Distinct http(s) link targets of the issue (resolved, with UTM), in order."""
        seen: dict[str, None] = {}
        for link in self.links:
            if link.kind == "link" and link.url.startswith(("http://", "https://")):
                seen.setdefault(link.url, None)
        return list(seen)

"""The bounce corpus, filled in for a test (``from tests.tracking.bounce_helpers import ...``)."""

from __future__ import annotations

from pathlib import Path
from string import Template

CORPUS = Path(__file__).parent / "bounce_corpus"


def corpus_message(name: str, *, verp: str, rcpt: str = "ann@example.com",
                   message_id: str = "<3.7.0a1b2c3d4e5f@example.org>", bounce_id: str = "<bounce-1@mail.example.net>") -> bytes:
    """One corpus message with its placeholders filled (CRLF line ends, as a mail server stores them)."""
    text = Template((CORPUS / name).read_text(encoding="utf-8")).substitute(
        verp=verp, rcpt=rcpt, message_id=message_id, bounce_id=bounce_id)
    return text.replace("\n", "\r\n").encode("utf-8")

"""The README as a reader sees it: every code fence closed, every relative link and anchor found."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
#: Inline links and images: [text](target "title"); reference definitions: [label]: target
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")


def prose_lines(text: str) -> tuple[list[tuple[int, str]], list[int]]:
    """The lines outside code blocks (with their numbers), and the line of any fence left open.

    A fence closes only with the same character, at least as long, and nothing after it (CommonMark).
    """
    prose: list[tuple[int, str]] = []
    opened: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if opened is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                opened = (number, match.group(1))
            else:
                prose.append((number, line))
        elif match and match.group(1)[0] == opened[1][0] and len(match.group(1)) >= len(opened[1]) \
                and not match.group(2).strip():
            opened = None
    return prose, [opened[0]] if opened else []


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def links(markdown: str) -> list[tuple[int, str]]:
    prose, _ = prose_lines(markdown)
    found: list[tuple[int, str]] = []
    for number, line in prose:
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        found += [(number, target) for target in LINK.findall(line)]
        found += [(number, target) for target in DEFINITION.findall(line)]
    return found


def test_every_code_fence_is_closed():
    _, unclosed = prose_lines(README.read_text(encoding="utf-8"))
    assert unclosed == [], f"README.md: the code fence opened on line {unclosed} is never closed"


def test_relative_links_and_anchors_resolve():
    text = README.read_text(encoding="utf-8")
    prose, _ = prose_lines(text)
    anchors = {slug(line.lstrip("#")) for _, line in prose if re.match(r"#{1,6} ", line)}
    broken = []
    for number, target in links(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        if path and not (README.parent / unquote(path)).exists():
            broken.append(f"line {number}: {target} (no such file)")
        elif not path and anchor not in anchors:
            broken.append(f"line {number}: {target} (no such heading)")
    assert broken == [], "README.md has broken links:\n" + "\n".join(broken)


def test_the_checker_sees_what_a_reader_would():
    prose, unclosed = prose_lines("a\n```sh\nx\n```\n[l](missing.md)\n````\n```\n````\n~~~\n")
    assert unclosed == [9] and [n for n, _ in prose] == [1, 5]
    assert links("[a](x.md) `[b](y.md)` ![i](img/p.png \"t\")\n\n[ref]: docs/z.md\n") == [
        (1, "x.md"), (1, "img/p.png"), (3, "docs/z.md")]
    assert slug("Tracking server, unsubscribe and stats") == "tracking-server-unsubscribe-and-stats"

"""The compose pipeline: source → Markdown → layout → MJML → inlined CSS → checks.

Every stage returns its output plus findings; nothing here prints, exits or
touches the network. Same input, same settings: byte-identical output.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from newsletter.compose import adapters
from newsletter.compose.build import identify
from newsletter.compose.checks import check_issue, check_links, send_blockers
from newsletter.compose.clientsupport import check_client_support, read_acknowledged
from newsletter.compose.layout import HTML_TEMPLATE, TEXT_TEMPLATE, find_layout, layout_digest, markup, render_layout
from newsletter.compose.line_length import wrap_long_lines
from newsletter.compose.links import LinkRewriter
from newsletter.compose.markdown import Body, build_body, first_sentence
from newsletter.compose.minify import minify_html
from newsletter.compose.model import WARNING, ComposeResult, Finding, Issue
from newsletter.compose.source import load_issue
from newsletter.compose.tables import check_tables
from newsletter.compose.text import render_text
from newsletter.errors import InputError, OutputError
from newsletter.personalize import placeholders
from newsletter.settings import Settings

#: Invisible filler after the hidden preheader (combining grapheme joiner, zero-width
#: non-joiner, no-break space, as the common email tools use), so an inbox's preview
#: line shows the preheader and then blank space instead of "View in browser · …".
PREHEADER_PADDING = "\u034f\u200c\u00a0" * 90
SIGNATURE_SEPARATOR = "-- "


def compose_issue(path: str | Path, settings: Settings) -> ComposeResult:
    """Compose the issue at ``path`` into HTML, text and findings.

    Raises ``InputError`` (or ``LayoutError``) for input that cannot be
    composed at all; problems that still allow an email are findings.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now

    issue = load_issue(path, settings)
    lap("parse")
    rewriter = LinkRewriter(
        base_url=issue.base_url,
        utm=issue.utm,
        utm_source=settings.newsletter_utm_source,
        campaign=issue.slug,
        source_name=str(issue.path),
    )
    body = build_body(issue, rewriter)
    if not issue.subject:
        issue.subject = body.subject_from_h1
    if not issue.subject:
        raise InputError(
            "no subject found: add `subject:` or `title:` to the frontmatter, or start with a `# Heading`",
            subject=str(issue.path),
        )
    if not issue.preheader:  # else the inbox shows only the invisible padding after it
        issue.preheader = first_sentence(body)
    body_text, references = render_text(body, direction=issue.dir)
    lap("markdown")

    folder = find_layout(issue.layout, settings.newsletter_layouts)
    context = _layout_context(issue, body, settings, body_text, references)
    mjml_source = render_layout(folder, HTML_TEMPLATE, context)
    text = render_layout(folder, TEXT_TEMPLATE, context) if (folder / TEXT_TEMPLATE).is_file() else body_text
    lap("layout")

    web_fonts = bool(issue.meta.get("web_fonts", settings.newsletter_web_fonts))
    html, mjml_warnings = adapters.mjml_to_html(mjml_source, web_fonts=web_fonts, origin=str(folder / HTML_TEMPLATE))
    lap("mjml")
    html, inline_warnings = adapters.inline_css(html)
    html = wrap_long_lines(minify_html(html))
    lap("inline")

    findings: list[Finding] = [*rewriter.findings, *body.findings]
    findings += check_tables(issue, (node for section in body.sections for node in section.nodes))
    findings += [Finding("mjml", WARNING, message, str(folder / HTML_TEMPLATE)) for message in mjml_warnings + inline_warnings]
    findings += check_links(issue, rewriter.links)
    titled = [(section.title, section.line) for section in body.sections if section.title]
    findings += check_issue(issue, html, str(folder / HTML_TEMPLATE), titled)
    findings += check_client_support(html, str(issue.path), read_acknowledged(folder))
    lap("checks")
    return ComposeResult(
        issue=issue,
        html=html,
        text=_normalise_text(text),
        links=rewriter.links,
        findings=findings,
        sender=settings.newsletter_from,
        reply_to=settings.newsletter_reply_to.strip(),
        layout_sha256=layout_digest(folder),
        timings=timings,
    )


def _layout_context(issue: Issue, body: Body, settings: Settings, body_text: str, references: list[str]) -> dict[str, Any]:
    sections = [
        {
            "title": section.title,
            "title_html": markup(section.title_html),
            "line": section.line,
            "dir": section.dir,
            "blocks": [
                {"kind": block.kind, "html": markup(block.html), "text": block.text, "url": block.url, "dir": block.dir}
                for block in section.blocks
            ],
        }
        for section in body.sections
    ]
    return {
        "issue": issue,
        "lang": issue.lang,
        "dir": issue.dir,
        "preheader_padding": PREHEADER_PADDING,
        "hero": body.hero,
        "sections": sections,
        "brand": settings.newsletter_brand,
        "postal_address": settings.newsletter_postal_address,
        "reason": settings.newsletter_reason,
        "recipient": placeholders(),
        "body_text": body_text,
        "references": references,
    }


def _normalise_text(text: str) -> str:
    # Trailing blanks go, except in "-- ": mail clients recognise that signature
    # separator (with its space) and can fold or strip the footer after it.
    lines = [line if line == SIGNATURE_SEPARATOR else line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def compose_checked(path: str | Path, settings: Settings, *, allow_errors: bool = False,
                    allow_clipping: bool = True) -> ComposeResult:
    """Compose an issue for sending: ``InputError`` naming what stops a send (its check errors; Gmail
    clipping unless ``allow_clipping``) unless ``allow_errors``."""
    result = compose_issue(Path(path), settings)
    blockers = [] if allow_errors else send_blockers(result, allow_clipping=allow_clipping)
    if blockers:
        shown = "; ".join(f.without_severity(str(Path(path))) for f in blockers[:3])  # the error names the path
        more = f" (and {len(blockers) - 3} more)" if len(blockers) > 3 else ""
        hint = "; pass --allow-clipping to send it anyway" if any(f.code == "html-too-large" for f in blockers) else ""
        raise InputError(f"not sending: {shown}{more}{hint}", subject=str(path))
    return result


def meta_dict(result: ComposeResult) -> dict[str, Any]:
    """What ``meta.json`` holds: deterministic facts about the composed issue."""
    issue = result.issue
    return {
        "slug": issue.slug,
        "source": issue.path.name,
        "subject": issue.subject,
        "preheader": issue.preheader,
        "from": result.sender,
        "layout": issue.layout,
        "web_url": issue.web_url,
        "categories": issue.categories,
        "links": [link.url for link in result.links if link.kind == "link"],
        "images": [link.url for link in result.links if link.kind == "image"],
        "bytes": {"html": len(result.html.encode("utf-8")), "text": len(result.text.encode("utf-8"))},
        "html_sha256": result.html_sha256,
        "build": identify(result).as_meta(),
        "errors": [f.as_dict() for f in result.errors],
        "warnings": [f.as_dict() for f in result.warnings],
        "frontmatter": issue.meta,
    }


def write_output(result: ComposeResult, out_dir: str | Path) -> Path:
    """Write ``email.html``, ``email.txt`` and ``meta.json`` under ``out_dir/<slug>/``, as a set.

    All three are written to temporary names first and renamed into place only
    when every one is complete, so a full disk or an interrupted run leaves the
    previous set (or nothing) and never a partial one. ``OutputError`` (exit 1)
    if they cannot be written.
    """
    target = Path(out_dir) / result.issue.slug
    existed = target.is_dir()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:  # --out names a file: the user's input
        raise InputError(f"cannot create output folder: {exc.strerror}", subject=str(target)) from None
    except OSError as exc:  # a full disk, no permission: operational
        raise OutputError(f"cannot create output folder: {exc.strerror or exc}", subject=str(target)) from None
    meta = json.dumps(meta_dict(result), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    written: list[tuple[str, Path]] = []
    replaced: list[str] = []
    try:
        for name, content in (("email.html", result.html), ("email.txt", result.text), ("meta.json", meta)):
            written.append((_write_temporary(target / name, content), target / name))
        for temporary, path in written:  # renames take no space: once the writes are done, these succeed
            os.replace(temporary, path)
            replaced.append(path.name)
    except OSError as exc:
        what = f"only {', '.join(replaced)} replaced" if replaced else "no file was changed"
        raise OutputError(f"cannot write the composed issue: {exc.strerror or exc}; {what}",
                          subject=str(target)) from None
    finally:
        if len(replaced) < len(written) or not written:  # failed or interrupted: leave no temporary file
            for temporary, _ in written:
                Path(temporary).unlink(missing_ok=True)
            if not existed:
                with contextlib.suppress(OSError):
                    target.rmdir()  # the folder this run made, empty again
    return target


_UMASK = os.umask(0)
os.umask(_UMASK)


def _write_temporary(path: Path, content: str) -> str:
    """``content`` in a new temporary file beside ``path``; its name (removed again if the write fails)."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(content)
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return temp

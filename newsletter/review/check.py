"""``newsletter check``: compose an issue and gather every finding, optionally SpamAssassin's and DNS's too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.compose.model import ComposeResult, Finding
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.review.spam import SpamReport


@dataclass
class CheckRun:
    """What ``check`` found: the composed issue, its findings and the spam report (``--spam``)."""

    result: ComposeResult
    findings: list[Finding]
    spam: SpamReport | None = None


def run_check(issue_path: str | Path, settings: Settings, *, spam: bool = False, dns: bool = False) -> CheckRun:
    """Compose the issue at ``issue_path`` and check it; with ``spam``, score the real
    message with a local SpamAssassin (``ConfigError`` saying how to install it if missing);
    with ``dns``, look up the sending domain's SPF, DKIM, DMARC and bounce MX (``review/dns.py``)."""
    from newsletter.compose import compose_issue

    result = compose_issue(issue_path, settings)
    findings = list(result.findings)
    report = None
    if spam:
        from newsletter.review.spam import spam_check

        report = spam_check(result, settings)
        findings += report.findings(str(result.issue.path))
    if dns:
        from newsletter.review.dns import dns_findings

        findings += dns_findings(settings, result.sender or settings.newsletter_from)
    return CheckRun(result, findings, report)

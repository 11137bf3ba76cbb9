"""``newsletter check --spam``: score the real message with a local SpamAssassin, offline.

The message is built exactly as ``send`` builds it (the same MIME structure
and headers) for a sample recipient, then run through ``spamassassin -L``
(local tests only: no DNS blocklists, no network). Bayes is off and a
throw-away home folder is used, so a check never trains or changes
anything. SpamAssassin is the Debian package ``spamassassin``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.compose.model import ERROR, WARNING, ComposeResult, Finding
from newsletter.errors import ConfigError, NewsletterError
from newsletter.settings import Settings

INSTALL_HINT = "install the Debian package 'spamassassin' (apt-get install spamassassin)"
_TIMEOUT_S = 120
_STATUS = re.compile(r"^X-Spam-Status:\s*(\w+),\s*score=(-?[\d.]+)\s+required=(-?[\d.]+)", re.MULTILINE)
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


@dataclass(frozen=True)
class SpamRule:
    """One SpamAssassin rule that matched, with its points."""

    name: str
    points: float
    description: str


@dataclass
class SpamReport:
    """SpamAssassin's verdict on one message."""

    score: float
    required: float
    rules: list[SpamRule] = field(default_factory=list)
    version: str = ""

    @property
    def scoring_rules(self) -> list[SpamRule]:
        """The rules that added points (informational 0.0 rules left out)."""
        return [rule for rule in self.rules if rule.points > 0]

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            "score": self.score,
            "required": self.required,
            "version": self.version,
            "rules": [{"name": r.name, "points": r.points, "description": r.description} for r in self.rules],
        }

    def findings(self, where: str) -> list[Finding]:
        """``spam-score``: an error at SpamAssassin's spam threshold, a warning above zero."""
        if self.score <= 0:
            return []
        rules = ", ".join(f"{r.name} ({r.points:+.1f}: {r.description})" for r in self.scoring_rules)
        severity = ERROR if self.score >= self.required else WARNING
        return [Finding("spam-score", severity, f"SpamAssassin scores it {self.score:.1f} (spam from {self.required:.1f}): {rules}", where)]


def spamassassin_path() -> str | None:
    """The ``spamassassin`` executable, or ``None`` when it is not installed."""
    return shutil.which("spamassassin")


def sample_message(result: ComposeResult, settings: Settings) -> bytes:
    """The message ``send`` would write for a sample recipient, as bytes."""
    from newsletter.delivery.base import Recipient
    from newsletter.delivery.message import MessageFactory
    from newsletter.personalize import SAMPLE_VALUES

    factory = MessageFactory(result, settings, send_id=1)
    recipient = Recipient(1, SAMPLE_VALUES["email"], SAMPLE_VALUES["name"], SAMPLE_VALUES["unsubscribe_url"], result.issue.web_url)
    return factory.build(recipient)[1]


def score_message(message: bytes, *, executable: str | None = None) -> SpamReport:
    """Run SpamAssassin's local tests over ``message``; ``ConfigError`` saying how to install it if missing."""
    program = executable or spamassassin_path()
    if not program:
        raise ConfigError(f"SpamAssassin is not installed; {INSTALL_HINT}", subject="check --spam")
    with tempfile.TemporaryDirectory(prefix="newsletter-spam-") as home:
        prefs = Path(home) / "user_prefs"
        prefs.write_text("", encoding="utf-8")
        command = [program, "-L", "-t", "-p", str(prefs), "--cf=use_bayes 0", "--cf=bayes_auto_learn 0"]
        try:
            done = subprocess.run(
                command, input=message, capture_output=True, timeout=_TIMEOUT_S, env={"HOME": home, "PATH": "/usr/bin:/bin"}
            )
        except FileNotFoundError:
            raise ConfigError(f"SpamAssassin not found at {program}; {INSTALL_HINT}", subject="check --spam") from None
        except subprocess.TimeoutExpired:
            raise NewsletterError(f"SpamAssassin did not answer within {_TIMEOUT_S} s", subject="check --spam") from None
    return parse_report(done.stdout.decode("utf-8", errors="replace"))


def parse_report(output: str) -> SpamReport:
    """Read ``spamassassin -t`` output: the X-Spam-Status header and the rule table."""
    status = _STATUS.search(output)
    if not status:
        raise NewsletterError("SpamAssassin gave no X-Spam-Status; is it working? (try: spamassassin -L -t < message.eml)", subject="check --spam")
    version = re.search(r"version=([\d.]+)", output[status.start() : status.start() + 400])
    rules: list[SpamRule] = []
    table = output.rsplit("Content analysis details:", 1)[1] if "Content analysis details:" in output else ""
    for line in table.splitlines()[3:]:
        match = _RULE.match(line)
        if match:
            rules.append(SpamRule(match.group(2), float(match.group(1)), match.group(3).strip()))
        elif rules and line.startswith(" " * 5) and line.strip():
            last = rules[-1]
            rules[-1] = SpamRule(last.name, last.points, f"{last.description} {line.strip()}")
        elif not line.strip():
            break
    return SpamReport(float(status.group(2)), float(status.group(3)), rules, version.group(1) if version else "")


def spam_check(result: ComposeResult, settings: Settings) -> SpamReport:
    """SpamAssassin's report on the message ``send`` would write for ``result``."""
    return score_message(sample_message(result, settings))

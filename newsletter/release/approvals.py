"""Approvals of a build, kept in a TOML file beside the issue and committed with it.

``issues/2026-11-example.md`` has its approvals in
``issues/2026-11-example.approvals.toml``: one ``[[approval]]`` table per
approval, appended (never rewritten), so the pull request that changes the
issue shows who approved which build. Each approval names the build id and
its parts' hashes, the audience (list, conditions, member count and digest; for
a step of a welcome email or sequence, the list and the sequence),
who, when and a note, and may carry an SSH signature over all of that.

Which approvals count (``signature_status``): a signature that does not
verify never counts; with ``NEWSLETTER_ALLOWED_SIGNERS`` set, only approvals
signed by a key that file allows for the approver's address count.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

from newsletter.compose.build import Build
from newsletter.errors import InputError, OutputError
from newsletter.release import ssh
from newsletter.settings import Settings

HEADER = (
    "# Approvals of this issue's builds, written by `newsletter approve`.\n"
    "# Commit this file with the issue; `newsletter approvals ISSUE.md` checks them.\n"
)
MESSAGE_PREFIX = b"newsletter approval v1\n"


def approvals_path(issue: str | Path) -> Path:
    """The approvals file beside ``issue`` (same name, ``.approvals.toml``)."""
    path = Path(issue)
    return path.with_name(path.stem + ".approvals.toml")


@dataclass
class Approval:
    """One approval of one build."""

    build: Build
    by: str  # 'Name <address>'
    at: str  # UTC, '2026-11-30T10:00:00Z'
    audience_count: int
    audience_digest: str
    note: str = ""
    segment: str = ""
    signature: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # keys of a newer version, kept when signing is checked

    @property
    def email(self) -> str:
        """The approver's address, lower-cased ('' if none)."""
        return parseaddr(self.by)[1].lower()

    @property
    def person(self) -> str:
        """Who this is, for counting distinct people: the address, else the name."""
        return self.email or self.by.strip().lower()

    def entry(self, *, signed: bool = True) -> dict[str, Any]:
        """The TOML table (without the signature unless ``signed``)."""
        audience = self.build.audience
        found: dict[str, Any] = {
            **self.extra,
            "build": self.build.id,
            "by": self.by,
            "at": self.at,
            "list": audience.list_name,
            "where": [str(c) for c in audience.conditions],
            "segment": self.segment,
            "audience_count": self.audience_count,
            "audience_digest": self.audience_digest,
            "note": self.note,
            "parts": dict(self.build.parts),
            "facts": {k: v for k, v in self.build.facts.items() if k != "audience"},
        }
        if audience.non_readers_of is not None:  # a resend's (only then: other entries' bytes stay as signed)
            found["non_readers_of"] = audience.non_readers_of
        if audience.sequence is not None:  # a sequence step's (likewise)
            found["sequence"] = audience.sequence
        if signed and self.signature:
            found["signature"] = self.signature
        return found

    def message(self) -> bytes:
        """The bytes a signature covers: everything in the entry but the signature, canonically."""
        return MESSAGE_PREFIX + json.dumps(self.entry(signed=False), sort_keys=True, ensure_ascii=False,
                                           separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_entry(cls, data: dict[str, Any], where: str) -> Approval:
        """From one ``[[approval]]`` table; ``InputError`` naming ``where`` if it is malformed."""
        known = {"build", "by", "at", "list", "where", "segment", "audience_count", "audience_digest", "note",
                 "parts", "facts", "signature", "non_readers_of", "sequence"}
        try:
            facts = dict(data.get("facts") or {})
            facts["audience"] = {"list": str(data["list"]), "where": [str(w) for w in data.get("where") or []]}
            if data.get("non_readers_of") is not None:
                facts["audience"]["non_readers_of"] = int(data["non_readers_of"])
            if data.get("sequence") is not None:
                facts["audience"]["sequence"] = str(data["sequence"])
            return cls(
                build=Build(str(data["build"]), {str(k): str(v) for k, v in dict(data.get("parts") or {}).items()}, facts),
                by=str(data["by"]),
                at=str(data["at"]),
                audience_count=int(data.get("audience_count", 0)),
                audience_digest=str(data.get("audience_digest", "")),
                note=str(data.get("note", "")),
                segment=str(data.get("segment", "")),
                signature=str(data.get("signature", "")),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"an approval is malformed ({type(exc).__name__}: {exc})", subject=where) from None


def load(path: Path) -> list[Approval]:
    """Every approval in the file at ``path`` (none if there is no file)."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid approvals file: {exc}", subject=str(path)) from None
    entries = data.get("approval") or []
    if not isinstance(entries, list):
        raise InputError("'approval' must be an array of tables ([[approval]])", subject=str(path))
    return [Approval.from_entry(e, f"{path}: approval {i}") for i, e in enumerate(entries, start=1)]


def append(path: Path, approval: Approval) -> None:
    """Add ``approval`` at the end of the file (created with a header if new); earlier bytes stay as they were.

    The whole new file is written under a temporary name and renamed over the
    old one, so a full disk leaves the file as it was (never empty or cut
    short); ``OutputError`` (exit 1) says so.
    """
    import tomli_w

    table = tomli_w.dumps({"approval": [approval.entry()]}, multiline_strings=True)
    if path.is_file():
        existing = path.read_text(encoding="utf-8")
        lead = "" if existing.endswith("\n\n") else "\n" if existing.endswith("\n") else "\n\n"
        text = existing + lead + table
    else:
        text = HEADER + "\n" + table
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        if path.is_file():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write the approvals file: {exc.strerror or exc}; it is unchanged",
                          subject=str(path)) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --- who and signatures ------------------------------------------------------------


def _git(key: str, cwd: Path) -> str:
    try:
        done = subprocess.run(["git", "config", "--get", key], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def identity(as_: str | None, cwd: Path) -> str:
    """'Name <address>' from ``--as``, else git's user.name and user.email (``InputError`` if neither)."""
    if as_:
        name, address = parseaddr(as_)
        if "@" not in address:
            raise InputError(f"{as_!r} has no email address: write 'Name <name@example.org>'", subject="--as")
        return formataddr((name, address)) if name else address
    name, address = _git("user.name", cwd), _git("user.email", cwd)
    if not address:
        raise InputError("who is this? pass --as 'Name <address>' or set git's user.name and user.email", subject="--as")
    return formataddr((name, address)) if name else address


def signing_key(key: str | None, cwd: Path) -> str:
    """The SSH key to sign with: ``--key``, else git's user.signingkey (``InputError`` if none)."""
    found = key or _git("user.signingkey", cwd)
    if not found:
        raise InputError("no key to sign with: pass --key ~/.ssh/id_ed25519 or set git's user.signingkey", subject="--sign")
    if found.startswith("key::"):
        raise InputError("git's user.signingkey is a literal key; pass --key with the key file instead", subject="--sign")
    return found


SIGNATURE_WORDS = {
    "unsigned": "unsigned",
    "intact": "signed (signer not checked: NEWSLETTER_ALLOWED_SIGNERS is not set)",
    "verified": "signature verified",
    "bad": "bad signature",
    "not-allowed": "signed by a key the allowed-signers file does not list for this address",
}


def signature_status(approval: Approval, settings: Settings) -> str:
    """unsigned, intact, verified, bad or not-allowed (see ``SIGNATURE_WORDS``)."""
    if not approval.signature:
        return "unsigned"
    message = approval.message()
    if not ssh.is_intact(message, approval.signature):
        return "bad"
    if not settings.newsletter_allowed_signers:
        return "intact"
    return "verified" if ssh.verify(message, approval.signature, approval.email, settings.newsletter_allowed_signers) \
        else "not-allowed"


def signature_counts(status: str, settings: Settings) -> bool:
    """Whether an approval whose signature has ``status`` counts towards the gate."""
    if settings.newsletter_allowed_signers:
        return status == "verified"
    return status != "bad"

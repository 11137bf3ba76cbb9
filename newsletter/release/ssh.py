"""SSH signatures over approvals, with ``ssh-keygen -Y`` (as git's SSH commit signing uses it).

A signature is the armored text ``ssh-keygen -Y sign`` writes, under the
namespace ``newsletter-approval`` (so no signature made for git or anything
else can be passed off as an approval). ``verify`` checks it against an
allowed-signers file (the format git uses: ``ann@example.org ssh-ed25519
AAAA...``) for the approver's address; ``is_intact`` checks only that it is a
valid signature of the message by the key it names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from newsletter.errors import ConfigError, InputError

NAMESPACE = "newsletter-approval"


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ConfigError("ssh-keygen not found: install OpenSSH's client (Debian: openssh-client)", subject="ssh-keygen")
    return found


def sign(message: bytes, key: str | Path) -> str:
    """The armored signature of ``message`` with private key ``key`` (or a public key whose private half is in ssh-agent)."""
    key_path = Path(key).expanduser()
    if not key_path.is_file():
        raise InputError("no such key file", subject=str(key_path))
    done = subprocess.run([_ssh_keygen(), "-Y", "sign", "-f", str(key_path), "-n", NAMESPACE], input=message,
                          capture_output=True, timeout=120)
    if done.returncode != 0 or b"BEGIN SSH SIGNATURE" not in done.stdout:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"ssh-keygen could not sign: {why[-1] if why else 'no signature'}", subject=str(key_path))
    return done.stdout.decode("ascii").strip() + "\n"


def _run_check(args: list[str], message: bytes, signature: str) -> bool:
    handle, sig_path = tempfile.mkstemp(suffix=".sig")
    try:
        with os.fdopen(handle, "w", encoding="ascii") as stream:
            stream.write(signature)
        done = subprocess.run([_ssh_keygen(), "-Y", *args, "-n", NAMESPACE, "-s", sig_path], input=message,
                              capture_output=True, timeout=60)
        return done.returncode == 0
    except UnicodeEncodeError:
        return False  # not an armored signature at all
    finally:
        Path(sig_path).unlink(missing_ok=True)


def is_intact(message: bytes, signature: str) -> bool:
    """True when ``signature`` is a valid signature of ``message`` (by whichever key it names)."""
    return _run_check(["check-novalidate"], message, signature)


def verify(message: bytes, signature: str, principal: str, allowed_signers: str | Path) -> bool:
    """True when ``signature`` over ``message`` is by a key ``allowed_signers`` lists for ``principal``."""
    path = Path(allowed_signers).expanduser()
    if not path.is_file():
        raise ConfigError("allowed-signers file not found", subject=str(path))
    if not principal:
        return False
    return _run_check(["verify", "-f", str(path), "-I", principal], message, signature)

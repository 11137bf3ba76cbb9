"""The bounce mailbox: IMAP (a folder), POP3 or a local maildir, one message at a time.

Every reader lists the messages, hands out one message's bytes at a time
(never the whole mailbox in memory), and removes only the messages it is
told to: deleted, or moved to ``NEWSLETTER_BOUNCE_FOLDER`` (IMAP, maildir).
Reading changes nothing: IMAP fetches with ``BODY.PEEK`` (no ``\\Seen``
flag), maildir reads the files in place, and POP3 deletions take effect only
at a clean QUIT. Messages nobody asked to remove stay exactly as they were.

The URL's password is never part of an error: errors name ``host:port``.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from newsletter.errors import AuthError, ConfigError, DeliveryError

SETTING = "NEWSLETTER_BOUNCE_MAILBOX"
TIMEOUT = 60.0


class Mailbox:
    """What every reader offers; use as a context manager."""

    def keys(self) -> list[str]:
        """Keys of the messages in the mailbox now (small: not the messages)."""
        raise NotImplementedError

    def read(self, key: str) -> bytes | None:
        """One message's bytes, None if it vanished meanwhile."""
        raise NotImplementedError

    def remove(self, key: str) -> None:
        """Delete the message, or move it to the folder named in the settings."""
        raise NotImplementedError

    def finish(self) -> None:
        """Make the removals final (IMAP expunge, POP3 QUIT)."""

    def close(self) -> None:
        """Let go of the connection without committing anything more."""

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_mailbox(url: str, move_to: str = "") -> Mailbox:
    """The reader for ``url`` (``imaps://``, ``imap://``, ``pop3s://``, ``pop3://``, ``maildir:///``), connected."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "maildir":
        return MaildirMailbox(unquote(parts.path), move_to)
    if scheme not in ("imap", "imaps", "pop3", "pop3s"):
        raise ConfigError("must be an imaps://, imap://, pop3s://, pop3:// or maildir:/// URL", subject=SETTING)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("has a port that is not a number", subject=SETTING) from None
    if not parts.hostname or not parts.username:
        raise ConfigError("needs a user and a host: imaps://user:password@host/INBOX", subject=SETTING)
    user, password = unquote(parts.username), unquote(parts.password or "")
    secure = scheme.endswith("s")
    if scheme.startswith("imap"):
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        return IMAPMailbox(parts.hostname, port or (993 if secure else 143), secure, user, password, folder, move_to)
    return POP3Mailbox(parts.hostname, port or (995 if secure else 110), secure, user, password)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class IMAPMailbox(Mailbox):
    """One IMAP folder, addressed by UID (stable while we work)."""

    def __init__(self, host: str, port: int, secure: bool, user: str, password: str, folder: str, move_to: str) -> None:
        import imaplib

        self.where = f"{host}:{port}"
        self.move_to = move_to
        self._deleted: list[str] = []
        try:
            if secure:
                self.conn: Any = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT)
            else:
                self.conn = imaplib.IMAP4(host, port, timeout=TIMEOUT)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise DeliveryError(f"cannot connect to the bounce mailbox: {exc}", subject=self.where) from None
        try:
            self.conn.login(user, password)
        except imaplib.IMAP4.error:
            self.close()
            raise AuthError(f"login refused; check the user and password in {SETTING}", subject=self.where) from None
        typ, data = self.conn.select(_quote(folder))
        if typ != "OK":
            self.close()
            raise ConfigError(f"no folder {folder!r} on {self.where}", subject=SETTING)
        typ, data = self.conn.capability()  # after login: servers announce MOVE and UIDPLUS only then
        words = data[0].decode("ascii", "replace").split() if typ == "OK" and data and data[0] else []
        self.capabilities = {c.upper() for c in (*self.conn.capabilities, *words)}
        self._folder_made = False

    def _check(self, response: Any, what: str) -> Any:
        typ, data = response
        if typ != "OK":
            raise DeliveryError(f"the IMAP server refused {what}: {data!r}"[:300], subject=self.where)
        return data

    def keys(self) -> list[str]:
        data = self._check(self.conn.uid("SEARCH", None, "ALL"), "SEARCH")
        return [uid.decode() for uid in (data[0] or b"").split()]

    def read(self, key: str) -> bytes | None:
        data = self._check(self.conn.uid("FETCH", key, "(BODY.PEEK[])"), "FETCH")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                return bytes(item[1])
        return None

    def remove(self, key: str) -> None:
        if self.move_to and not self._folder_made:
            self.conn.create(_quote(self.move_to))  # refused when it exists already: fine
            self._folder_made = True
        if self.move_to and "MOVE" in self.capabilities:
            self._check(self.conn.uid("MOVE", key, _quote(self.move_to)), "MOVE")
            return
        if self.move_to:
            self._check(self.conn.uid("COPY", key, _quote(self.move_to)), "COPY")
        self._check(self.conn.uid("STORE", key, "+FLAGS.SILENT", "(\\Deleted)"), "STORE")
        self._deleted.append(key)

    def finish(self) -> None:
        if not self._deleted:
            return
        if "UIDPLUS" in self.capabilities:  # expunge only ours, not what someone else marked deleted
            self._check(self.conn.uid("EXPUNGE", ",".join(self._deleted)), "EXPUNGE")
        else:
            self._check(self.conn.expunge(), "EXPUNGE")
        self._deleted = []

    def close(self) -> None:
        try:
            if self.conn.state == "SELECTED":
                self.conn.close()
            self.conn.logout()
        except Exception:  # a connection already gone: nothing left to release
            pass


class POP3Mailbox(Mailbox):
    """A POP3 mailbox: deletions are final only at QUIT (``finish``), so a crash deletes nothing."""

    def __init__(self, host: str, port: int, secure: bool, user: str, password: str) -> None:
        import poplib

        self.where = f"{host}:{port}"
        try:
            if secure:
                self.conn: Any = poplib.POP3_SSL(host, port, context=ssl.create_default_context(), timeout=TIMEOUT)
            else:
                self.conn = poplib.POP3(host, port, timeout=TIMEOUT)
        except (OSError, poplib.error_proto) as exc:
            raise DeliveryError(f"cannot connect to the bounce mailbox: {exc}", subject=self.where) from None
        try:
            self.conn.user(user)
            self.conn.pass_(password)
        except poplib.error_proto:
            self.close()
            raise AuthError(f"login refused; check the user and password in {SETTING}", subject=self.where) from None
        self._quit = False

    def keys(self) -> list[str]:
        _, lines, _ = self.conn.list()
        return [line.split()[0].decode() for line in lines]

    def read(self, key: str) -> bytes | None:
        import poplib

        try:
            _, lines, _ = self.conn.retr(int(key))
        except poplib.error_proto:
            return None
        return b"\r\n".join(lines) + b"\r\n"

    def remove(self, key: str) -> None:
        self.conn.dele(int(key))

    def finish(self) -> None:
        self.conn.quit()
        self._quit = True

    def close(self) -> None:
        if not self._quit:
            try:
                self.conn.rset()  # undo DELEs not yet committed by a QUIT
                self.conn.quit()
            except Exception:  # a connection already gone: its deletions are dropped anyway
                self.conn.close()
            self._quit = True


class MaildirMailbox(Mailbox):
    """A maildir on this machine (``new`` and ``cur``); the folder to move to is a Maildir++ sub-folder."""

    def __init__(self, path: str, move_to: str) -> None:
        import mailbox
        import os

        if not all(os.path.isdir(os.path.join(path, sub)) for sub in ("cur", "new", "tmp")):
            raise ConfigError(f"{path!r} is not a maildir (cur/, new/ and tmp/)", subject=SETTING)
        self.box = mailbox.Maildir(path, factory=None, create=False)
        self.move_to = move_to
        self._target: Any = None

    def keys(self) -> list[str]:
        return list(self.box.iterkeys())

    def read(self, key: str) -> bytes | None:
        try:
            return self.box.get_bytes(key)
        except (KeyError, FileNotFoundError):
            return None

    def remove(self, key: str) -> None:
        import mailbox

        if self.move_to:
            if self._target is None:
                try:
                    self._target = self.box.get_folder(self.move_to)
                except mailbox.NoSuchMailboxError:
                    self._target = self.box.add_folder(self.move_to)
            self._target.add(self.box.get_message(key))  # keeps its flags and new/cur place
        self.box.discard(key)

    def iter_bytes(self) -> Iterator[tuple[str, bytes]]:
        """Every message's key and bytes (the benchmark's loop)."""
        for key in self.keys():
            data = self.read(key)
            if data is not None:
                yield key, data

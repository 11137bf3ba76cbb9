"""A throwaway Dovecot IMAP + POP3 server for the bounce tests (``from tests.tracking import dovecot``).

Debian's ``dovecot-imapd``/``dovecot-pop3d`` (``.ci/run`` installs them), with
a configuration of its own in a temporary folder: loopback only, plain-text
logins without TLS (loopback), users from a ``passwd-file``, mail in a maildir
per user under the folder. Started in the foreground; stopped and removed at
the end. As root (CI), it runs as Debian's unprivileged ``dovecot`` user
through ``runuser``; otherwise as the current user.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.helpers import wait_until

BINARY = "/usr/sbin/dovecot"
HOW_TO_GET_IT = "Dovecot is not installed: `apt-get install dovecot-imapd dovecot-pop3d` (Debian; .ci/run does it)"
SERVER_USER = "dovecot"

CONFIG = """\
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
instance_name = newsletter-test-{tag}
listen = 127.0.0.1
protocols = imap pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_location = maildir:{folder}/mail/%u
mail_privileged_group =
first_valid_uid = 1
pop3_uidl_format = %g
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {folder}/users
  default_fields = uid={uid} gid={gid} home={folder}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service pop3-login {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = .
}}
"""


def unavailable() -> str:
    """Why a server cannot be started here ('' if it can)."""
    if not os.path.exists(BINARY):
        return HOW_TO_GET_IT
    if not (os.path.exists("/usr/lib/dovecot/imap") and os.path.exists("/usr/lib/dovecot/pop3")):
        return HOW_TO_GET_IT
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run Dovecot as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` (util-linux) is missing to start Dovecot as another user"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DovecotServer:
    """One server; ``add_user(name)`` gives a password, ``deliver(name, bytes)`` drops mail in its maildir."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="newsletter-dovecot-"))
        self.imap_port = self.pop3_port = 0
        self._as_root = os.geteuid() == 0
        account = pwd.getpwnam(SERVER_USER) if self._as_root else pwd.getpwuid(os.geteuid())
        self.uid, self.gid, self.user = account.pw_uid, account.pw_gid, account.pw_name
        self.group = self.user if not self._as_root else SERVER_USER
        self._process: subprocess.Popen[bytes] | None = None
        self._users: dict[str, str] = {}
        self._sequence = 0

    def _own(self, path: Path) -> None:
        if self._as_root:
            os.chown(path, self.uid, self.gid)

    def _mkdir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        self._own(path)
        return path

    def add_user(self, name: str) -> str:
        """Create a login with a fresh password and an empty maildir; return the password."""
        password = secrets.token_hex(8)
        self._users[name] = password
        fresh = self.folder / "users.new"  # written aside, then renamed: Dovecot never reads half a file
        fresh.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self._users.items()))
        self._own(fresh)
        os.replace(fresh, self.folder / "users")
        self._mkdir(self.folder / "mail")
        self._mkdir(self.maildir(name))
        for sub in ("cur", "new", "tmp"):
            self._mkdir(self.maildir(name) / sub)
        self._mkdir(self.folder / "home")
        self._mkdir(self.folder / "home" / name)
        if self._process is not None:
            self._wait_for_login(name, password)
        return password

    def _wait_for_login(self, name: str, password: str) -> None:
        """Poll until the running server knows the new login (it re-reads its passwd-file at most once a second)."""
        import imaplib

        def logs_in() -> bool:
            conn = imaplib.IMAP4("127.0.0.1", self.imap_port)
            try:
                conn.login(name, password)
            except imaplib.IMAP4.error:
                conn.shutdown()
                return False
            conn.logout()
            return True

        wait_until(logs_in, 15, 0.1, message=f"dovecot did not take the new user {name!r} within 15 s")

    def maildir(self, name: str) -> Path:
        """The user's maildir (INBOX)."""
        return self.folder / "mail" / name

    def deliver(self, name: str, data: bytes) -> Path:
        """Put a message into the user's INBOX as a local delivery agent would (tmp/, then new/)."""
        self._sequence += 1
        base = f"{int(time.time())}.M{self._sequence}P{os.getpid()}.test"
        temporary = self.maildir(name) / "tmp" / base
        temporary.write_bytes(data)
        self._own(temporary)
        final = self.maildir(name) / "new" / base
        os.rename(temporary, final)
        return final

    def start(self) -> DovecotServer:
        """Write the configuration and start ``dovecot -F``; wait until both ports answer."""
        folder = self.folder
        if self._as_root:
            folder.chmod(0o755)
        for sub in ("run", "state", "mail", "home"):
            self._mkdir(folder / sub)
        self._own(folder)
        if not (folder / "users").exists():
            (folder / "users").write_text("")
            self._own(folder / "users")
        self.imap_port, self.pop3_port = _free_port(), _free_port()
        config = folder / "dovecot.conf"
        config.write_text(CONFIG.format(folder=folder, user=self.user, group=self.group, uid=self.uid, gid=self.gid,
                                        imap_port=self.imap_port, pop3_port=self.pop3_port, tag=secrets.token_hex(4)))
        self._own(config)
        command = [BINARY, "-F", "-c", str(config)]
        if self._as_root:
            command = ["runuser", "-u", self.user, "--", *command]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        process = self._process
        try:
            wait_until(lambda: all(_answers(port) for port in (self.imap_port, self.pop3_port)), 30, 0.05,
                       message=lambda: f"dovecot did not start listening within 30 s: {self._stderr()}",
                       abort=lambda: None if process.poll() is None else f"dovecot exited: {self._stderr()}")
        except AssertionError:
            self.stop()
            raise
        return self

    def _stderr(self) -> str:
        log = self.folder / "dovecot.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None
        shutil.rmtree(self.folder, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(64).startswith((b"* OK", b"+OK"))
    except OSError:
        return False

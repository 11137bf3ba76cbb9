"""A throwaway PostgreSQL server for the tests and the benchmarks: Debian's ``postgresql`` package,
``initdb`` into a temporary folder, ``pg_ctl`` on a free loopback port, everything removed at the end.

``initdb`` refuses to run as root (and CI runs as root): then the server runs
as Debian's ``postgres`` user through ``runuser``, in a folder made readable
to it. Logins need a password (scram-sha-256), so the URLs the tests use
carry one, and the tests can check that it never shows.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

HOW_TO_GET_IT = ("PostgreSQL is not installed: `apt-get install postgresql` (Debian; .ci/run does it) "
                 "or set NEWSLETTER_TEST_PG_BIN to the folder holding initdb and pg_ctl")
#: The unprivileged user the server runs as when the tests run as root.
SERVER_USER = "postgres"


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: NEWSLETTER_TEST_PG_BIN, Debian's newest version, or PATH."""
    candidates = []
    if os.environ.get("NEWSLETTER_TEST_PG_BIN"):
        candidates.append(Path(os.environ["NEWSLETTER_TEST_PG_BIN"]))
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _number(p.parent.name), reverse=True)
    candidates += versions
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _number(text: str) -> float:
    return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else 0.0


def unavailable() -> str:
    """Why a server cannot be started here ('' if it can)."""
    if find_binaries() is None:
        return HOW_TO_GET_IT
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as (apt-get install postgresql makes one)"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` (util-linux) is missing to start PostgreSQL as another user"
    return ""


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server in a temporary folder; ``url(name)`` for a database on it; ``stop()`` removes everything.

    ``fast`` turns off what protects against power loss (fsync and friends):
    right for tests; benchmarks keep fsync and set ``synchronous_commit=off``,
    the durability of the SQLite store's ``synchronous=NORMAL`` (a crash of the
    process loses nothing, a power cut may lose the last commits).
    """

    user = "newsletter"

    def __init__(self, *, fast: bool = True) -> None:
        binaries = find_binaries()
        if binaries is None:
            raise RuntimeError(HOW_TO_GET_IT)
        self.bin = binaries
        self.fast = fast
        self.password = secrets.token_hex(12)
        self.port = 0
        self.folder = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
        self.data = self.folder / "data"
        self._as_root = os.geteuid() == 0
        self._created = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.folder)

    def start(self) -> PostgresServer:
        """initdb, then pg_ctl start on a free loopback port (waits until it accepts connections)."""
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n")
        if self._as_root:
            self.folder.chmod(0o755)
            account = pwd.getpwnam(SERVER_USER)
            for path in (self.folder, password_file):
                os.chown(path, account.pw_uid, account.pw_gid)
        made = self._run(self.bin / "initdb", "-D", self.data, "-U", self.user, f"--pwfile={password_file}",
                         "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        password_file.unlink()
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr.strip() or made.stdout.strip()}")
        options = [f"-c listen_addresses=127.0.0.1 -p {{port}} -k {self.folder} -c max_connections=300"]
        options.append("-c fsync=off -c synchronous_commit=off -c full_page_writes=off" if self.fast
                       else "-c synchronous_commit=off -c shared_buffers=512MB -c max_wal_size=4GB")
        for _attempt in range(5):  # another process may take the free port first
            self.port = free_port()
            started = self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.folder / "server.log", "-w",
                                "-t", "60", "-o", " ".join(options).format(port=self.port), "start")
            if started.returncode == 0:
                return self
        raise RuntimeError(f"pg_ctl start failed: {started.stdout.strip()} {self.log()[-2000:]}")

    def log(self) -> str:
        """The server's log so far."""
        try:
            return (self.folder / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this server, password included."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement on the ``postgres`` database (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, template: str | None = None, prefix: str = "t") -> str:
        """A new, empty database (or a copy of ``template``); returns its URL."""
        self._created += 1
        name = f"{prefix}{self._created}"
        self.admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Remove a database made by ``create_database`` (closing its connections)."""
        self.admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if self.port:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

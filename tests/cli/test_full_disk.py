"""A full disk while `compose --out` or `approve` writes: the documented exit 1, one line, no partial files.

The disk is made "full" by the kernel itself: the command runs in its own process with
``RLIMIT_FSIZE`` set (``resource.setrlimit`` in ``preexec_fn``), so a write that would make any
file larger than the limit fails with EFBIG ("File too large"), as ENOSPC fails it on a full
disk, and at the same point: part-way through a file. SIGXFSZ is ignored, as a shell's
``ulimit -f`` leaves it, so the process gets the error instead of being killed.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.release.helpers import ISSUE_BODY, ISSUE_FRONTMATTER, add_people

SECRET_KEY = "full-disk-test-secret-key-0123456789"


def run_with_file_limit(args: list[str], limit: int, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m newsletter ARGS`` in a process that may make no file larger than ``limit`` bytes."""

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "newsletter", *args], env={**os.environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120, preexec_fn=limit_files)


def test_compose_on_a_full_disk_exits_1_and_writes_no_partial_set(write_issue, tmp_path):
    # A long frontmatter key (kept in meta.json) makes meta.json the largest file, so it is the write that
    # fails, after email.html and email.txt were written: the case that used to leave a partial set.
    issue = write_issue("Hello [a](https://a.example.com/)\n",
                        frontmatter='title: "Full disk"\npreheader: p\nnotes: "' + "n" * 200_000 + '"')
    out = tmp_path / "out"
    run = run_with_file_limit(["compose", str(issue), "--out", str(out)], 150_000, {}, tmp_path)
    assert run.returncode == 1, run.stderr  # an operational failure, as the README's table says
    assert run.stderr.splitlines() == [
        f"Error: {out / 'test-issue'}: cannot write the composed issue: File too large; no file was changed"]
    assert not (out / "test-issue").exists()  # the folder it made is gone again, with every temporary file

    assert subprocess.run([sys.executable, "-m", "newsletter", "compose", str(issue), "--out", str(out)],
                          capture_output=True, timeout=120).returncode == 0
    before = {p.name: p.read_bytes() for p in (out / "test-issue").iterdir()}
    assert set(before) == {"email.html", "email.txt", "meta.json"}
    issue.write_text(issue.read_text().replace("Hello", "Hello again"))
    run = run_with_file_limit(["compose", str(issue), "--out", str(out)], 150_000, {}, tmp_path)
    assert run.returncode == 1
    assert {p.name: p.read_bytes() for p in (out / "test-issue").iterdir()} == before  # the earlier set, whole
    assert json.loads(before["meta.json"])["slug"] == "test-issue"


@pytest.mark.postgresql
def test_approve_on_a_full_disk_leaves_the_approvals_file_as_it_was(postgres_database, tmp_path):
    # On PostgreSQL the approvals file is the only file the command writes (a SQLite database would
    # hit the limit itself first).
    folder = tmp_path / "issues"
    folder.mkdir()
    issue = folder / "2026-12-harbour.md"
    issue.write_text(f"---\n{ISSUE_FRONTMATTER.strip()}\n---\n{ISSUE_BODY.lstrip()}", encoding="utf-8")
    add_people(postgres_database, "news", {"p1@example.org": {}})
    env = {"NEWSLETTER_DATABASE": postgres_database, "NEWSLETTER_SECRET_KEY": SECRET_KEY,
           "NEWSLETTER_BUILD_DIR": str(tmp_path / "build")}
    approvals = folder / "2026-12-harbour.approvals.toml"

    run = run_with_file_limit(["approve", str(issue), "--list", "news", "--as", "ann@example.org"], 100, env, tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines() == [
        f"Error: {approvals}: cannot write the approvals file: File too large; it is unchanged"]
    assert sorted(p.name for p in folder.iterdir()) == ["2026-12-harbour.md"]  # no empty file, no temporary one

    run = run_with_file_limit(["approve", str(issue), "--list", "news", "--as", "ann@example.org"], 1 << 20, env,
                              tmp_path)
    assert run.returncode == 0, run.stderr
    first = approvals.read_bytes()
    run = run_with_file_limit(["approve", str(issue), "--list", "news", "--as", "bob@example.org"], len(first) + 50,
                              env, tmp_path)
    assert run.returncode == 1 and "it is unchanged" in run.stderr
    assert approvals.read_bytes() == first  # not cut short, not emptied
    assert sorted(p.name for p in folder.iterdir()) == ["2026-12-harbour.approvals.toml", "2026-12-harbour.md"]


def test_the_file_limit_is_the_kernels(tmp_path):
    """The helper really limits: a plain write past the limit fails with EFBIG in the child."""
    target = tmp_path / "big"
    code = f"with open({str(target)!r}, 'w') as f: f.write('x' * 5000)"

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=limit_files)
    assert run.returncode != 0 and "File too large" in run.stderr

"""Fixtures for the CLI tests: run ``newsletter`` as a user does, in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

RunCli = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """``run_cli(*args, env={...}, cwd=...)``: ``python -m newsletter`` with output captured.

    The process gets the test's cleaned environment (see tests/conftest.py), a
    database under ``tmp_path`` and no terminal.
    """

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
        environ = {**os.environ, "NEWSLETTER_DATABASE": str(tmp_path / "cli.db"), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "newsletter", *args], env=environ, cwd=cwd or tmp_path,
            capture_output=True, text=True, input=input, timeout=60,
        )

    return run

"""Fixtures for the audience tests: the real CLI in-process, and a database handle."""

from __future__ import annotations

import pytest

from tests.delivery.fakes import settings_env


@pytest.fixture
def cli(monkeypatch):
    """``cli(config, *args)`` runs the real CLI in-process with ``config`` as its environment."""
    from typer.testing import CliRunner

    from newsletter.cli import app

    def run(config, *args):
        for name, value in settings_env(config).items():
            monkeypatch.setenv(name, value)
        return CliRunner().invoke(app, [str(a) for a in args])

    return run

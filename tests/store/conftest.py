"""Fixtures for data-layer tests: a migrated database in tmp_path."""

from __future__ import annotations

import pytest


@pytest.fixture
def conn(tmp_path):
    """A fresh, migrated SQLite connection."""
    from newsletter.store import connect

    connection = connect(tmp_path / "store.db")
    yield connection
    connection.close()

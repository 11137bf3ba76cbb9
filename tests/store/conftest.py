"""Fixtures for data-layer tests: a migrated database of each kind (see ``database`` in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def conn(database):
    """A fresh, migrated connection: SQLite, then PostgreSQL."""
    from newsletter.store import connect

    connection = connect(database)
    yield connection
    connection.close()

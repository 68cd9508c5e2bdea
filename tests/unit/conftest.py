"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest

from server.store import db


@pytest.fixture
def conn(tmp_path):
    """A real SQLite file, migrated, in the test's own directory."""
    c = db.connect(tmp_path / "gate.db")
    yield c
    c.close()

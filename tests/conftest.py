"""Fixtures shared by the survey tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def image_bank_root(settings, tmp_path):
    """A private image bank folder per test."""
    settings.IMAGE_BANK_ROOT = tmp_path / "bank"
    return settings.IMAGE_BANK_ROOT


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` exercise row locks that SQLite does not have; run them where DATABASE_URL
    points at PostgreSQL."""
    try:
        from django.db import connection
    except ImportError:  # a machine with only the generator's stack (a GPU node): nothing to skip here
        return

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)

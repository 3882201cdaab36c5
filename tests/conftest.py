"""Fixtures shared by the survey tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def image_bank_root(settings, tmp_path):
    """A private image bank folder per test."""
    settings.IMAGE_BANK_ROOT = tmp_path / "bank"
    return settings.IMAGE_BANK_ROOT


@pytest.hookimpl(trylast=True)  # after pytest-django's ordering and the marks the other conftests add
def pytest_collection_modifyitems(config, items):
    _skip_postgres_only_tests(items)
    _slow_tests_first(items)


def _skip_postgres_only_tests(items) -> None:
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


def _database_phase(item) -> int:
    """pytest-django's run order, which this hook keeps: tests in a rolled-back transaction (0), then
    transactional ones, which empty the database when they end (1), then those with no database (2).
    The marker is read by pytest-django's own parser, so `django_db(True)` means what it means there."""
    from pytest_django.fixtures import validate_django_db

    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    transactional = False
    if marker:
        transaction, reset_sequences, *_ = validate_django_db(marker)
        transactional = transaction or reset_sequences
    if transactional or "transactional_db" in fixtures or "live_server" in fixtures:
        return 1
    return 0 if marker or "db" in fixtures else 2


def _slow_tests_first(items) -> None:
    """Within each of pytest-django's phases, the tests marked `slow` start first, each followed by a quick
    one. The test processes (scripts/test) take one test at a time, so a long browser walk begins while
    short tests remain to fill the other processes, instead of the last process starting it when the rest
    are done. A process is sent its next test while it runs the current one: the quick test between two
    slow ones keeps a second slow test from queueing behind the first on one process."""
    phases: dict[int, list] = {}
    for item in items:
        phases.setdefault(_database_phase(item), []).append(item)
    items[:] = [
        item
        for phase in sorted(phases)
        for item in interleaved(
            [item for item in phases[phase] if "slow" in item.keywords],
            [item for item in phases[phase] if "slow" not in item.keywords],
        )
    ]


def interleaved(slow: list, quick: list) -> list:
    """slow[0], quick[0], slow[1], quick[1], ... then what remains of either."""
    pairs = [item for pair in zip(slow, quick) for item in pair]
    n = min(len(slow), len(quick))
    return pairs + slow[n:] + quick[n:]

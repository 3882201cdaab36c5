"""The one clock that stamps when a question was served, delivered, started and answered.

Several web hosts each have their own clock, and a few hundred milliseconds between them would move a
participant's deadline or response time. So on PostgreSQL the stamps come from the database server:
`STATEMENT_TIMESTAMP()` (Django's `Now()`), the moment the statement that fetched (and locked) the
session arrived, folded into that query so it costs nothing. SQLite is one host's file, so its Python
clock is that host's single clock and is used as it is.

`settings.SURVEY_CLOCK = "python"` makes every stamp Python's `timezone.now()` on any database: the test
suite moves time with time_machine, which cannot move the database server's clock. The tests of the
database's clock set "database" themselves.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Now
from django.utils import timezone

CLOCK_ATTRIBUTE = "db_now"


def uses_database_clock() -> bool:
    return settings.SURVEY_CLOCK == "database" and connection.vendor == "postgresql"


def with_clock(queryset: QuerySet) -> QuerySet:
    """The queryset, each row carrying the database's clock as `db_now` when that clock is used."""
    return queryset.annotate(**{CLOCK_ATTRIBUTE: Now()}) if uses_database_clock() else queryset


def now_of(row: object) -> datetime:
    """The time a row fetched through `with_clock` was fetched at, by the clock in use (Python's when the
    row carries none)."""
    stamped = getattr(row, CLOCK_ATTRIBUTE, None)
    return stamped if stamped is not None else timezone.now()


def current() -> datetime:
    """The time now by the clock in use (one query on PostgreSQL: for the rare writes that fetch no row)."""
    if not uses_database_clock():
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT STATEMENT_TIMESTAMP()")
        return cursor.fetchone()[0]

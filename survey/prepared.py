"""The participant's hot queries, compiled to SQL once per database connection and then only run.

Django builds and compiles a queryset anew every time it runs: 0.5-4 ms of CPU for one of the
participant's queries (the session with its lock and the clock, the question with its disorder and its
"n of N"), several times what the database itself spends answering it, and a question makes about 25 of
them (its page, each portrait, the clock start, the answer). Their shape never changes, only the values
in them: the session's token, a question's id, the time. So each is written as a small typed queryset
builder beside the code that uses it, wrapped in `PreparedSelect` or `PreparedUpdate`: its SQL is Django's
own (the same on SQLite and PostgreSQL), compiled the first time it runs on a connection, and after that
only the values change. A builder must take every value as an argument: one it computed itself (the time
now) would be compiled in, so the time is an argument or the database's `Now()`.

How the values are found in the compiled statement: the builder is compiled twice with two different sets
of example values chosen from its type hints (`str`, `int`, `datetime`), and each parameter of the SQL
must be one of the arguments in both (or the same constant in both); the SQL text must not change. A
statement that fails those checks (an argument the database layer transforms, a builder whose SQL depends
on its values) is not prepared: it runs as the plain queryset every time, which is correct, just slower.
`is_prepared()` says which it is (tests/survey/test_prepared.py pins the hot ones).

Only the default database is used (the project has one); `variant` names what else than the arguments
the builder's SQL depends on (a setting), so each variant is compiled on its own.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model, QuerySet, sql

# get_related_populators is private: django-stubs 5.2.9 does not declare it (the ignore is for that name).
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators  # type: ignore[attr-defined]

CONSTANT = -1  # a parameter that is no argument: the same value in every run


class _NotPreparable(Exception):
    """The builder's queryset is of a shape this module does not run itself: it runs as a queryset."""


# Where each connection keeps its plans: on the connection object itself (one per thread), so a plan (which
# holds the connection's compiler) lives exactly as long as the connection it was compiled for.
_PLANS_ATTRIBUTE = "survey_prepared_plans"
_NOT_PREPARED = object()


def _examples(kind: type, index: int) -> tuple[Any, Any]:
    """Two distinct example values of an argument's type, distinct from every other argument's too."""
    if kind is str:
        return f"prepared-example-{index}-a", f"prepared-example-{index}-b"
    if kind is int:  # small enough for any integer column (a small one too): Django rewrites out-of-range lookups
        return 1_001 + index, 2_001 + index
    if kind is datetime:
        return (
            datetime(2001, 1, 1, tzinfo=UTC) + timedelta(minutes=index),
            datetime(2002, 1, 1, tzinfo=UTC) + timedelta(minutes=index),
        )
    raise TypeError(f"a prepared statement's arguments are str, int or datetime, not {kind!r}")


def _argument_types(build: Callable[..., Any]) -> tuple[type, ...]:
    hints = typing.get_type_hints(build)
    names = tuple(inspect.signature(build).parameters)
    if missing := [name for name in names if name not in hints]:
        raise TypeError(f"{build.__name__}: say the type of {', '.join(missing)} (str, int or datetime)")
    return tuple(hints[name] for name in names)


def _connection():
    """This thread's connection to the default database (not the `connection` proxy, which all threads share)."""
    return connections[DEFAULT_DB_ALIAS]


def _for_database(value: Any, ops) -> Any:
    """An argument as the database layer passes it on: aware datetimes become SQLite's text, as Django's
    DateTimeField does (on PostgreSQL they stay as they are)."""
    if isinstance(value, datetime):
        return ops.adapt_datetimefield_value(value)
    return value


def _parameter_slots(args: tuple[Sequence, Sequence], params: tuple[Sequence, Sequence]) -> tuple[int, ...] | None:
    """For each parameter of the compiled SQL, the argument it is (its index), or CONSTANT; None when a
    parameter cannot be told apart, or an argument is not found."""
    (args_a, args_b), (params_a, params_b) = args, params
    if len(params_a) != len(params_b):
        return None
    slots = []
    for a, b in zip(params_a, params_b, strict=True):
        if a == b and type(a) is type(b):
            if any(a == x for x in (*args_a, *args_b)):
                return None  # a constant that looks like an argument: ambiguous
            slots.append(CONSTANT)
            continue
        matches = [
            i for i, (x, y) in enumerate(zip(args_a, args_b, strict=True)) if a == x and b == y and type(a) is type(x)
        ]
        if len(matches) != 1:
            return None
        slots.append(matches[0])
    if set(range(len(args_a))) - set(slots):
        return None  # an argument the SQL does not use: the builder is not what it says
    return tuple(slots)


@dataclass(frozen=True)
class _Plan:
    """A compiled statement: its SQL, where each argument goes, and how its rows become results."""

    sql: str
    slots: tuple[int, ...]
    constants: tuple[Any, ...]
    read: Callable[[list], list] | None  # rows -> results (a SELECT); None for an UPDATE (its row count)

    def params(self, args: tuple, ops) -> tuple:
        values = [_for_database(arg, ops) for arg in args]
        return tuple(
            values[slot] if slot != CONSTANT else constant
            for slot, constant in zip(self.slots, self.constants, strict=True)
        )


def _rows_reader(compiler) -> Callable[[list], list]:
    """What Django's values_list iterable does with the fetched rows: its converters, as tuples."""
    fields = [expression for expression, _, _ in compiler.select[: compiler.col_count]]
    converters = compiler.get_converters(fields)
    width = compiler.col_count

    def read(rows: list) -> list[tuple]:
        if compiler.has_extra_select:  # ordering columns Django selected only to order by
            rows = [row[:width] for row in rows]
        if converters:
            rows = compiler.apply_converters(rows, converters)
        return [tuple(row) for row in rows]

    return read


def _objects_reader(compiler) -> Callable[[list], list]:
    """What Django's model iterable does with the fetched rows (model, select_related, annotations)."""
    rows_of = _rows_reader(compiler)
    select, klass_info, annotations = compiler.select, compiler.klass_info, compiler.annotation_col_map
    model = klass_info["model"]
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    related = get_related_populators(klass_info, select, DEFAULT_DB_ALIAS)

    def read(rows: list) -> list[Model]:
        objects = []
        for row in rows_of(rows):
            obj = model.from_db(DEFAULT_DB_ALIAS, init_list, row[start:end])
            for populator in related:
                populator.populate(row, obj)
            for name, position in (annotations or {}).items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects

    return read


class _Statement:
    """What a prepared SELECT and a prepared UPDATE share: the plan cache and the fallback."""

    def __init__(self, build: Callable[..., Any], *, variant: Callable[[], Hashable] | None = None) -> None:
        self.build = build
        self.variant = variant
        pairs = [_examples(kind, i) for i, kind in enumerate(_argument_types(build))]
        # Two full sets of arguments to compile with: every first example, then every second one.
        self.examples = (tuple(a for a, _ in pairs), tuple(b for _, b in pairs))

    def _plan(self) -> _Plan | None:
        plans = vars(_connection()).setdefault(_PLANS_ATTRIBUTE, {})
        key = (self, self.variant() if self.variant is not None else None)
        plan = plans.get(key, _NOT_PREPARED)
        if plan is _NOT_PREPARED:
            plan = plans[key] = self._compile()
        return plan

    def is_prepared(self) -> bool:
        """Whether this statement runs from its compiled SQL on this connection (else as a plain queryset)."""
        return self._plan() is not None

    def _compile(self) -> _Plan | None:
        try:
            (sql_a, params_a, read), (sql_b, params_b, _) = (self._compiled(args) for args in self.examples)
        except (_NotPreparable, EmptyResultSet):
            return None
        if sql_a != sql_b:
            return None  # the SQL's text depends on the values
        ops = _connection().ops
        args_a, args_b = self.examples
        database_args = (
            tuple(_for_database(arg, ops) for arg in args_a),
            tuple(_for_database(arg, ops) for arg in args_b),
        )
        slots = _parameter_slots(database_args, (params_a, params_b))
        if slots is None:
            return None
        return _Plan(sql_a, slots, tuple(params_a), read)

    def _execute(self, plan: _Plan, args: tuple):
        database = _connection()
        with database.cursor() as cursor:
            cursor.execute(plan.sql, plan.params(args, database.ops))
            return plan.read(cursor.fetchall()) if plan.read is not None else cursor.rowcount

    def _compiled(self, args: tuple) -> tuple[str, tuple, Callable[[list], list] | None]:
        """The builder's SQL and parameters for these arguments, and how to read its rows."""
        raise NotImplementedError


class PreparedSelect(_Statement):
    """`build(*args)` returns a queryset of model instances (select_related and annotations included) or of
    `values_list` tuples; `run(*args)` returns its results as a list."""

    def run(self, *args) -> list:
        plan = self._plan()
        if plan is None:
            return list(self.build(*args))
        return self._execute(plan, args)

    def _compiled(self, args: tuple) -> tuple[str, tuple, Callable[[list], list]]:
        queryset: QuerySet = self.build(*args)
        # QuerySet._prefetch_related_lookups is private: django-stubs 5.2.9 does not declare it.
        if queryset._iterable_class not in (ModelIterable, ValuesListIterable) or queryset._prefetch_related_lookups:  # type: ignore[attr-defined]
            raise _NotPreparable
        compiler = queryset.query.get_compiler(connection=_connection())
        sql_text, params = compiler.as_sql()  # also fills the compiler's select list, which the readers use
        reader = _objects_reader if queryset._iterable_class is ModelIterable else _rows_reader
        return sql_text, params, reader(compiler)


class PreparedUpdate(_Statement):
    """`build(*args)` returns `(queryset, values)`; `run(*args)` does `queryset.update(**values)` and returns
    the number of rows it changed."""

    def run(self, *args) -> int:
        plan = self._plan()
        if plan is None:
            queryset, values = self.build(*args)
            return queryset.update(**values)
        with transaction.mark_for_rollback_on_error(using=DEFAULT_DB_ALIAS):
            return self._execute(plan, args)

    def _compiled(self, args: tuple) -> tuple[str, tuple, None]:
        queryset, values = self.build(*args)
        query = queryset.query.chain(sql.UpdateQuery)  # as QuerySet.update builds it
        query.add_update_values(values)
        query.clear_select_clause()
        if query.related_updates:
            raise _NotPreparable  # several statements (a parent model's table too)
        sql_text, params = query.get_compiler(connection=_connection()).as_sql()
        return sql_text, params, None

"""Small SQL helpers shared by the rollup builders.

Rollups are written with `INSERT ... SELECT` so the rows never travel through Python;
the SELECT is usually built with the ORM (portable time-zone handling) and wrapped here.
Raw parameters are adapted with the backend's own adapters: SQLite stores datetimes as
naive UTC text and would not compare equal to an aware Python datetime.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.models.query import QuerySet


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def dt(moment: datetime) -> Any:
    """A datetime parameter for raw SQL."""
    return connection.ops.adapt_datetimefield_value(moment)


def d(day: date) -> Any:
    """A date parameter for raw SQL."""
    return connection.ops.adapt_datefield_value(day)


def to_date(value: Any) -> date:
    """A date read back from raw SQL (SQLite returns text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return max(cursor.rowcount, 0)


def fetchall(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def insert_from(
    model: type[models.Model],
    columns: Sequence[str],
    queryset: QuerySet,
    select: Sequence[str],
    params: Sequence[Any] = (),
) -> int:
    """`INSERT INTO model (columns) SELECT select FROM (queryset) q`.

    `select` items are SQL expressions over the queryset's aliases (`q.alias`) or `%s`
    placeholders filled, in order, from `params`.
    """
    try:
        sql, query_params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return 0
    statement = (
        f"INSERT INTO {table(model)} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
        f"SELECT {', '.join(select)} FROM ({sql}) q"
    )
    return execute(statement, [*params, *query_params])


def truncate(models_: Sequence[type[models.Model]]) -> None:
    if connection.vendor == "postgresql":
        execute(f"TRUNCATE {', '.join(table(m) for m in models_)}")
    else:
        for model in models_:
            execute(f"DELETE FROM {table(model)}")

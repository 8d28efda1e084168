"""Small SQL helpers shared by the rollup builders.

Rollups are written with `INSERT ... SELECT` so the rows never travel through Python;
the SELECT is usually built with the ORM (portable time-zone handling) and wrapped here.
Raw parameters are adapted with the backend's own adapters: SQLite stores datetimes as
naive UTC text and would not compare equal to an aware Python datetime.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL
from django.db.models.functions import Ord, Substr
from django.db.models.query import QuerySet

from analytics.seeding.loading import BulkLoadMode


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


_QUALIFIED = re.compile(r"\bq\.(\w+)")


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
    # Quote the subquery's column names: `q.returning` is a keyword in SQLite.
    quoted = [_QUALIFIED.sub(lambda m: f"q.{connection.ops.quote_name(m[1])}", item) for item in select]
    statement = (
        f"INSERT INTO {table(model)} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
        f"SELECT {', '.join(quoted)} FROM ({sql}) q"
    )
    return execute(statement, [*params, *query_params])


def truncate(models_: Sequence[type[models.Model]]) -> None:
    if connection.vendor == "postgresql":
        execute(f"TRUNCATE {', '.join(table(m) for m in models_)}")
    else:
        for model in models_:
            execute(f"DELETE FROM {table(model)}")


@contextmanager
def atomic() -> Iterator[None]:
    """A transaction for rollup writes. On PostgreSQL, without JIT compilation (it costs
    more than it saves on statements over a day's rows) and with room to sort a month of
    events in memory."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            execute("SET LOCAL jit = off")
            execute("SET LOCAL work_mem = '128MB'")
        yield


# Date arithmetic the two databases spell differently. Arguments are SQL expressions.


def local_date(timestamp_sql: str) -> tuple[str, list[Any]]:
    """The local date (reporting zone) of a timestamp expression, as TruncDate compiles it."""
    return connection.ops.datetime_cast_date_sql(timestamp_sql, (), settings.TIME_ZONE)


def month_start(date_sql: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(DATE_TRUNC('month', {date_sql}) AS date)"
    return f"date({date_sql}, 'start of month')"


def previous_month_start(date_sql: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(DATE_TRUNC('month', {date_sql}) - INTERVAL '1 month' AS date)"
    return f"date({date_sql}, 'start of month', '-1 month')"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC of an aware datetime: what `EpochMicroseconds`
    reads from the database."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


# Where PostgreSQL counts its timestamps from, in `epoch_us`.
_POSTGRESQL_EPOCH_US = epoch_us(datetime(2000, 1, 1, tzinfo=UTC))


class EpochMicroseconds(models.Func):
    """Microseconds since 1970-01-01 UTC of a datetime expression, exact, as an integer:
    comparing integers in Python is much cheaper than building aware datetimes."""

    output_field = models.BigIntegerField()

    @property
    def convert_value(self):
        # Both databases return an int already: no int() of every value.
        return self._convert_value_noop

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="CAST(EXTRACT(EPOCH FROM %(expressions)s) * 1000000 AS bigint)"
        )

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite keeps naive UTC text, 'YYYY-MM-DD HH:MM:SS' with '.ffffff' when not zero;
        # strftime would round the fraction to milliseconds, so it reads the whole seconds.
        # The text appears twice, and so do its parameters (an instant given as a value).
        # '%%s' is what the cursor turns into strftime's '%s'.
        text, params = compiler.compile(self.get_source_expressions()[0])
        sql = (
            f"(CAST(strftime('%%s', substr({text}, 1, 19)) AS INTEGER) * 1000000"
            f" + CAST(substr({text} || '.000000', 21, 6) AS INTEGER))"
        )
        return sql, [*params, *params]


def days_between(later_sql: str, earlier_sql: str) -> str:
    if connection.vendor == "postgresql":
        return f"({later_sql} - {earlier_sql})"
    return f"CAST(julianday({later_sql}) - julianday({earlier_sql}) AS INTEGER)"


@contextmanager
def temporary_table(name: str, select: str, params: Sequence[Any]) -> Iterator[str]:
    """The rows of `select` in a temporary table, for several INSERTs to read. On
    PostgreSQL a CREATE TABLE AS runs its SELECT in parallel, which an INSERT's SELECT
    never does (several times faster over a month of events)."""
    quoted = connection.ops.quote_name(name)
    execute(f"DROP TABLE IF EXISTS {quoted}")
    execute(f"CREATE TEMPORARY TABLE {quoted} AS {select}", params)
    try:
        yield quoted
    finally:
        execute(f"DROP TABLE IF EXISTS {quoted}")


def insert_select(insert: str, select: str, params: Sequence[Any]) -> int:
    """`{insert} {select}`; on PostgreSQL through a temporary table (see above)."""
    if connection.vendor != "postgresql":
        return execute(f"{insert} {select}", params)
    with temporary_table("rollup_rows", select, params) as rows:
        return execute(f"{insert} SELECT * FROM {rows}")


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock named after `name` (SQLite already serialises writers)."""
    if connection.vendor != "postgresql":
        yield
        return
    key = zlib.crc32(f"spotilytics-rollups-{name}".encode())
    execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        execute("SELECT pg_advisory_unlock(%s)", [key])


def int_columns(rows: QuerySet, *columns: models.Expression) -> list[np.ndarray]:
    """The values of `columns` (expressions of non-null integers) over `rows`, as one int64
    array per column.

    PostgreSQL sends them packed into one binary value that numpy reads in place, with no
    Python object per value (a month of events in a fraction of the time a cursor takes
    to build its tuples). A value holds at most 1 GB: some 20 million rows of six columns,
    so callers ask for a month at a time. SQLite goes through the cursor.
    """
    names = [f"column_{n}" for n in range(len(columns))]
    postgresql = connection.vendor == "postgresql"
    # PostgreSQL sends a timestamp as its own eight bytes, microseconds since 2000-01-01:
    # shifted in numpy, exactly, instead of by EXTRACT's numeric arithmetic on the server,
    # a month of events reads in half the time.
    stamps = [postgresql and isinstance(column, EpochMicroseconds) for column in columns]
    selected = [
        column.get_source_expressions()[0] if stamp else column
        for column, stamp in zip(columns, stamps, strict=True)
    ]
    # Only annotations are selected, so the SQL columns come in the order given.
    query = rows.annotate(**dict(zip(names, selected, strict=True))).values_list(*names).order_by()
    try:
        sql, params = query.query.sql_with_params()
    except EmptyResultSet:
        return [np.zeros(0, dtype=np.int64) for _ in names]
    if not postgresql:
        fetched = fetchall(sql, params)
        if any(value is None for row in fetched for value in row):
            raise ValueError("int_columns() reads non-null integers; a column holds NULL.")
        table = np.array(fetched, dtype=np.int64).reshape(-1, len(names))
        return [table[:, n].copy() for n in range(len(names))]
    # One bytea of fixed-width big-endian records, which numpy reads in place: far cheaper
    # than a COPY, whose client takes each row as a separate message. Django's cursors bind
    # on the client and get bytea back as hex text; a cursor binding on the server gets the
    # bytes themselves (a third faster over a month of events).
    record = " || ".join(
        f"timestamptz_send(CAST(q.{name} AS timestamptz))" if stamp else f"int8send(CAST(q.{name} AS bigint))"
        for name, stamp in zip(names, stamps, strict=True)
    )
    # A NULL would make its whole record NULL, which string_agg skips: the count tells.
    statement = f"SELECT string_agg({record}, ''::bytea), COUNT(*) FROM ({sql}) AS q ({', '.join(names)})"
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        data, count = cursor.execute(statement, params, binary=True).fetchone()
    table = np.frombuffer(data or b"", dtype=">i8").reshape(-1, len(names))
    if len(table) != count:
        raise ValueError("int_columns() reads non-null integers; a column holds NULL.")
    shifts = [_POSTGRESQL_EPOCH_US if stamp else 0 for stamp in stamps]
    return [table[:, n].astype(np.int64) + shift for n, shift in enumerate(shifts)]


def among(rows: QuerySet, field: str, values: np.ndarray) -> QuerySet:
    """`rows`, narrowed on PostgreSQL to those whose `field` (an integer column) is one of
    `values`: a single array parameter, where Django's `__in` would build a placeholder
    per value (tens of thousands for a day's listeners). SQLite, whose statements take at
    most 32,766 parameters, gets `rows` whole: callers take the rows they asked for."""
    column = rows.model._meta.get_field(field).column
    quote = connection.ops.quote_name
    condition, params = one_of(f"{quote(rows.model._meta.db_table)}.{quote(column)}", values)
    if not condition:
        return rows
    return rows.filter(RawSQL(condition, params, output_field=models.BooleanField()))


def one_of(column_sql: str, values: np.ndarray) -> tuple[str, list[Any]]:
    """The SQL condition and parameters of `among` for an integer column expression:
    none on SQLite."""
    if connection.vendor != "postgresql":
        return "", []
    # The array as its text: Django's cursors bind on the client, which took 3 µs a value
    # to quote a list element by element (tens of thousands of listeners).
    literal = "{" + ",".join(map(str, np.unique(values).tolist())) + "}"
    return f"{column_sql} = ANY(%s::bigint[])", [literal]


def country_number(field: str) -> models.Expression:
    """A two-letter country code as one integer, for `int_columns` to read with the rest."""
    return Ord(field) * 256 + Ord(Substr(field, 2, 1))


def country_code(number: int) -> str:
    """The code `country_number` made `number` of."""
    return chr(number // 256) + chr(number % 256)


def country_codes(numbers: np.ndarray) -> np.ndarray:
    """The codes `country_number` made each of `numbers` of, as ASCII bytes (the number's
    two bytes are the code's two letters), for `insert_arrays`."""
    return np.asarray(numbers).astype(">u2").view("S2")


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert plain value tuples (dates already passed through `d`): COPY on PostgreSQL,
    one executemany on SQLite. Model instances and `bulk_create` cost several times the
    database's own work for the many small rows a rollup refresh writes."""
    if not rows:
        return 0
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table(model)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table(model)} ({names}) VALUES ({placeholders})", rows)
    return len(rows)


def insert_arrays(
    model: type[models.Model], columns: dict[str, np.ndarray], *, into: str | None = None
) -> int:
    """Insert rows given as one numpy array per column: integers, dates as day ordinals
    (`date.toordinal()`) and text as str or UTF-8 bytes arrays. `into`: a table named so
    instead of the model's, with the same columns (a temporary copy of its shape).

    PostgreSQL takes them as one binary COPY that numpy lays out, with no Python object per
    value (a month of plays by dimension in a twentieth of the time of an INSERT from
    arrays); SQLite, through one executemany.
    """
    names = list(columns)
    count = len(columns[names[0]]) if names else 0
    if not count:
        return 0
    fields = {name: model._meta.get_field(name) for name in names}
    kinds = {name: _binary_kind(fields[name]) for name in names}
    quote = connection.ops.quote_name
    target = f"{into or table(model)} ({', '.join(quote(fields[name].column) for name in names)})"
    for name in names:
        size = _INTEGER_BYTES.get(kinds[name])
        values = columns[name]
        limit = 2 ** (8 * size - 1) if size else 0
        if size and len(values) and (values.min() < -limit or values.max() >= limit):
            raise OverflowError(f"A value of {model.__name__}.{name} does not fit its column.")
    if connection.vendor != "postgresql":
        values = [_python_values(columns[name], kinds[name]) for name in names]
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {target} VALUES ({', '.join(['%s'] * len(names))})",
                list(zip(*values, strict=True)),
            )
        return count
    data = {}
    for name in names:
        kind = kinds[name]
        if kind == "text":
            text = np.asarray(columns[name])
            data[name] = text if text.dtype.kind == "S" else np.char.encode(text.astype(str), "utf-8")
            continue
        values = np.asarray(columns[name], dtype=np.int64)
        if kind == "date":
            values = values - _PG_EPOCH_ORDINAL
            kind = ">i4"
        data[name] = values.astype(kind)
    # Fixed-width records need one width per text column: rows are laid out in groups of
    # equal text lengths (COPY takes rows in any order). The groups are few and the
    # lengths small: counted, not sorted.
    texts = [name for name in names if kinds[name] == "text"]
    lengths = {name: np.char.str_len(data[name]) for name in texts}
    base = max((int(length.max()) + 1 for length in lengths.values()), default=1)
    shape = np.zeros(count, dtype=np.int64)
    for name in texts:
        shape = shape * base + lengths[name]
    shapes = np.flatnonzero(np.bincount(shape))
    blocks = [b"PGCOPY\n\xff\r\n\x00" + bytes(8)]
    for value in shapes.tolist():
        rows = slice(None) if len(shapes) == 1 else np.flatnonzero(shape == value)
        text_width, rest = {}, value
        for name in reversed(texts):
            rest, text_width[name] = divmod(rest, base)
        layout = [("fields", ">i2")]
        for n, name in enumerate(names):
            size = text_width.get(name)
            layout.append((f"length_{n}", ">i4"))
            if size != 0:
                layout.append((f"value_{n}", f"S{size}" if name in text_width else data[name].dtype))
        records = np.zeros(count if len(shapes) == 1 else len(rows), dtype=layout)
        records["fields"] = len(names)
        for n, name in enumerate(names):
            size = text_width.get(name, data[name].dtype.itemsize)
            records[f"length_{n}"] = size
            if size:
                records[f"value_{n}"] = data[name][rows]
        blocks.append(records.tobytes())
    blocks.append(b"\xff\xff")
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {target} FROM STDIN (FORMAT binary)") as copy,
    ):
        copy.write(b"".join(blocks))
    return count


def _python_values(column: np.ndarray, kind: str) -> list:
    if kind == "date":
        return [date.fromordinal(day) for day in column.tolist()]
    if column.dtype.kind == "S":
        return np.char.decode(column, "utf-8").tolist()
    return column.tolist()


_INTEGER_BYTES = {">i2": 2, ">i4": 4, ">i8": 8}
_PG_EPOCH_ORDINAL = date(2000, 1, 1).toordinal()  # PostgreSQL's binary dates count days from it


def _binary_kind(field: models.Field) -> str:
    """How `insert_arrays` sends a column: "date", "text" or a big-endian numpy integer."""
    while field.is_relation:  # a foreign key's column has the type of the key it refers to
        field = field.target_field
    if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
        return "date"
    if isinstance(field, models.CharField):
        return "text"
    if isinstance(field, models.SmallIntegerField | models.PositiveSmallIntegerField):
        return ">i2"
    if isinstance(field, models.BigIntegerField | models.PositiveBigIntegerField):
        return ">i8"
    if isinstance(field, models.IntegerField | models.PositiveIntegerField):
        return ">i4"
    raise TypeError(f"insert_arrays() does not send {type(field).__name__} columns.")


@contextmanager
def rebuilding(models_: Sequence[type[models.Model]]) -> Iterator[None]:
    """One transaction that empties the tables of `models_` for the block to fill anew.

    Run as its own transaction on PostgreSQL, the tables are truncated and lose their
    indexes until the block is done, then get them back rebuilt (see `BulkLoadMode`):
    a sorted build beats inserting millions of rows into the indexes. Foreign keys are
    not dropped (dropping one locks the table it references, listeners or tracks,
    against every read until the commit): tables rebuilt this way should have no
    foreign key constraints, or each inserted row is checked. Inside a caller's
    transaction, which may hold deferred checks on the tables that PostgreSQL refuses to
    truncate or alter, the rows are deleted and the block fills the indexed tables.
    """
    own = not connection.in_atomic_block
    tables = [model._meta.db_table for model in models_]
    loader = BulkLoadMode(connection, index_tables=tables if own else ())
    with atomic():
        if own:
            truncate(models_)
        else:
            for model in models_:
                execute(f"DELETE FROM {table(model)}")
        loader.begin()
        try:
            yield
            loader.rebuild_indexes()
            loader.analyze()
        finally:
            loader.end()

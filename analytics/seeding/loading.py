"""Writing generated columns into the database: COPY on PostgreSQL, executemany on SQLite.

Generators hand over `Rows`: a model and numpy columns keyed by database column name,
ids included (explicit ids make the data identical on every run and backend). Column
encodings follow the model field's type:

- integers and foreign keys: int64, `NULL_INT` for NULL
- datetimes: int64 epoch seconds (UTC), `NULL_INT` for NULL; dates: int64 days since 1970
- money: int64 cents, written as exact numeric digits or two-decimal text (never a float)
- floats: float64, NaN for NULL; booleans: bool; text: a sequence of str (None for NULL),
  a numpy bytes array (ASCII) or `Coded` (codes into a few labels)

No model instances are built: `bulk_create` of millions of objects is what this avoids.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.core.management.color import no_style
from django.db import models

from analytics.seeding.timeline import EPOCH_2000

NULL_INT = np.iinfo(np.int64).min
SQLITE_BLOCK_ROWS = 50_000

_INT_TYPES = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "PositiveBigIntegerField",
}


@dataclass(frozen=True)
class Coded:
    """A text column drawn from a few labels, kept as codes: cheap to encode for COPY."""

    codes: np.ndarray
    labels: Sequence[str]

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index: slice | int) -> Coded | str:
        if isinstance(index, slice):
            return Coded(self.codes[index], self.labels)
        return self.labels[self.codes[index]]

    def tolist(self) -> list[str]:
        return np.asarray(self.labels, dtype=object)[self.codes].tolist()

    @classmethod
    def of(cls, values: np.ndarray) -> Coded:
        labels, codes = np.unique(np.asarray(values), return_inverse=True)
        return cls(codes, labels.tolist())


@dataclass
class Rows:
    """Rows of one table as columns: `{db column name: values}`."""

    model: type[models.Model]
    columns: dict[str, Any]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def table(self) -> str:
        return self.model._meta.db_table


def _field(model: type[models.Model], column: str) -> models.Field:
    for field in model._meta.concrete_fields:
        if field.column == column:
            return field
    raise LookupError(f"{model._meta.label} has no column {column!r}")


def _kind(model: type[models.Model], column: str) -> str:
    field = _field(model, column)
    if field.is_relation:
        return "int"
    internal = field.get_internal_type()
    if internal in _INT_TYPES:
        return "int"
    return {
        "DateTimeField": "datetime",
        "DateField": "date",
        "BooleanField": "bool",
        "FloatField": "float",
        "DecimalField": "money",
    }.get(internal, "text")


def _money(cents: np.ndarray) -> list[str]:
    # Exact decimal text from integer cents: money never passes through a float.
    return [f"{c // 100}.{c % 100:02d}" if c >= 0 else f"-{-c // 100}.{-c % 100:02d}" for c in cents.tolist()]


def _datetime_text(seconds: np.ndarray, separator: str) -> np.ndarray:
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return np.strings.replace(text, "T", separator) if separator != "T" else text


# -- PostgreSQL: binary COPY for ordinary tables ------------------------------------------------

BINARY_BLOCK_ROWS = 200_000
_PG_INTS = {"smallint": ">i2", "integer": ">i4", "bigint": ">i8"}


def _binary_parts(model: type[models.Model], column: str, kind: str, values: Any, connection):
    """(numpy field type, data, NULL mask, byte lengths or None) of one column in binary COPY form."""
    if kind == "text":
        if isinstance(values, Coded):
            labels = np.array([label.encode() for label in values.labels] or [b""])
            data = labels[values.codes]
            lengths = np.strings.str_len(labels)[values.codes]
            return data.dtype.str, data, np.zeros(len(data), dtype=bool), lengths
        if isinstance(values, np.ndarray) and values.dtype.kind == "S":  # ASCII, already bytes
            lengths = np.strings.str_len(values)
            data = values.astype(f"S{max(int(lengths.max(initial=1)), 1)}")  # no wider than needed
            return data.dtype.str, data, np.zeros(len(values), dtype=bool), lengths
        null = np.array([v is None for v in values], dtype=bool)
        data = np.array([b"" if v is None else v.encode() for v in values], dtype="S")
        if data.dtype.itemsize == 0:  # only empty strings
            data = data.astype("S1")
        return data.dtype.str, data, null, np.strings.str_len(data)
    values = np.asarray(values)
    if kind == "bool":
        return "u1", values.astype(np.uint8), np.zeros(len(values), dtype=bool), None
    if kind == "float":
        null = np.isnan(values)
        return ">f8", np.where(null, 0.0, values), null, None
    null = values == NULL_INT
    clean = np.where(null, 0, values)
    if kind == "int":
        db_type = _field(model, column).db_type(connection).split("(")[0].strip()
        return _PG_INTS[db_type], clean, null, None
    if kind == "datetime":
        return ">i8", (clean - EPOCH_2000) * 1_000_000, null, None
    if kind == "date":
        return ">i4", clean - EPOCH_2000 // 86_400, null, None
    if kind == "money":
        # numeric: 2 base-10000 digits (units, cents x 100), weight 0, positive, 2 decimals;
        # PostgreSQL strips the zero digits itself. Prices stay below 10,000.
        digits = np.zeros((len(clean), 6), dtype=">i2")
        digits[:, 0] = 2
        digits[:, 3] = 2
        digits[:, 4] = clean // 100
        digits[:, 5] = clean % 100 * 100
        if (clean < 0).any() or (clean >= 1_000_000).any():
            raise ValueError(f"{model._meta.label}.{column}: amounts must be within 0 and 9,999.99")
        return ("V12", digits.view("V12").ravel(), null, None)
    raise ValueError(kind)


def encode_rows_binary(connection, rows: Rows, block: slice) -> memoryview:
    """PostgreSQL binary COPY tuples for a block of rows: the same mask-and-pack as events."""
    names = list(rows.columns)
    parts = [
        _binary_parts(rows.model, name, _kind(rows.model, name), rows.columns[name][block], connection)
        for name in names
    ]
    n = len(parts[0][1])
    layout = [("fields", ">i2")]
    for i, (field_type, *_rest) in enumerate(parts):
        layout += [(f"l{i}", ">i4"), (f"v{i}", field_type)]
    dtype = np.dtype(layout)
    record = np.empty(n, dtype=dtype)
    record["fields"] = len(names)
    keep = np.ones((n, dtype.itemsize), dtype=bool)
    for i, (_, data, null, lengths) in enumerate(parts):
        width = dtype.fields[f"v{i}"][0].itemsize
        offset = dtype.fields[f"v{i}"][1]
        record[f"v{i}"] = data
        size = np.full(n, width, dtype=np.int64) if lengths is None else lengths
        record[f"l{i}"] = np.where(null, -1, size)
        if lengths is not None:
            keep[:, offset : offset + width] = np.arange(width) < np.where(null, 0, lengths)[:, None]
        elif null.any():
            keep[null, offset : offset + width] = False
    return memoryview(record.view(np.uint8).reshape(n, dtype.itemsize)[keep])


def _copy_binary(connection, rows: Rows) -> None:
    quote = connection.ops.quote_name
    names = ", ".join(quote(n) for n in rows.columns)
    sql = f"COPY {quote(rows.table)} ({names}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(_BINARY_SIGNATURE)
        for begin in range(0, len(rows), BINARY_BLOCK_ROWS):
            copy.write(encode_rows_binary(connection, rows, slice(begin, begin + BINARY_BLOCK_ROWS)))
        copy.write(_BINARY_TRAILER)


# -- SQLite: executemany with Django's storage formats --------------------------------------------


def _sqlite_column(kind: str, values: Any) -> list[Any]:
    if kind == "text":
        if isinstance(values, np.ndarray) and values.dtype.kind == "S":
            return values.astype(str).tolist()
        return values.tolist() if isinstance(values, Coded) else list(values)
    values = np.asarray(values)
    if kind == "bool":
        return values.astype(np.int64).tolist()
    if kind == "float":
        out = values.astype(object)
        out[np.isnan(values)] = None
        return out.tolist()
    null = values == NULL_INT
    if kind == "int":
        out = values.astype(object)
    elif kind == "datetime":
        # Django stores aware datetimes on SQLite as naive UTC text, 'YYYY-MM-DD HH:MM:SS'.
        out = _datetime_text(np.where(null, 0, values), " ").astype(object)
    elif kind == "date":
        out = np.datetime_as_string(np.where(null, 0, values).astype("datetime64[D]")).astype(object)
    elif kind == "money":
        out = np.array(_money(np.where(null, 0, values)), dtype=object)
    else:
        raise ValueError(kind)
    out[null] = None
    return out.tolist()


def _sqlite_insert(connection, table: str, names: Sequence[str], columns: list[list[Any]]) -> None:
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    # The raw sqlite3 cursor: Django's wrapper would convert and log every row.
    connection.ensure_connection()
    raw = connection.connection.cursor()
    try:
        raw.executemany(sql, zip(*columns, strict=True))
    finally:
        raw.close()


def _insert_sqlite(connection, rows: Rows) -> None:
    names = list(rows.columns)
    kinds = [_kind(rows.model, name) for name in names]
    for begin in range(0, len(rows), SQLITE_BLOCK_ROWS):
        block = slice(begin, begin + SQLITE_BLOCK_ROWS)
        columns = [_sqlite_column(k, rows.columns[n][block]) for n, k in zip(names, kinds, strict=True)]
        _sqlite_insert(connection, rows.table, names, columns)


def load_rows(connection, rows: Rows) -> None:
    """Insert generated rows; the caller owns the transaction."""
    if not len(rows):
        return
    if connection.vendor == "postgresql":
        _copy_binary(connection, rows)
    else:
        _insert_sqlite(connection, rows)


# -- Listening events --------------------------------------------------------------------------

DEVICES = np.array(["mobile", "desktop", "web", "tablet", "speaker", "car", "tv"])
CONTEXTS = np.array(["album", "playlist", "artist", "search", "radio", "library"])
EVENT_COLUMNS = (
    "id",
    "listener_id",
    "track_id",
    "episode_id",
    "played_at",
    "ms_played",
    "skipped",
    "device",
    "context",
    "playlist_id",
)
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_BINARY_TRAILER = b"\xff\xff"
_DEVICE_WIDTH = max(len(d) for d in DEVICES)
_CONTEXT_WIDTH = max(len(c) for c in CONTEXTS)
_EVENT_RECORD = np.dtype(
    [
        ("fields", ">i2"),
        ("id_len", ">i4"),
        ("id", ">i8"),
        ("listener_len", ">i4"),
        ("listener", ">i8"),
        ("track_len", ">i4"),
        ("track", ">i8"),
        ("episode_len", ">i4"),
        ("episode", ">i8"),
        ("played_len", ">i4"),
        ("played", ">i8"),
        ("ms_len", ">i4"),
        ("ms", ">i4"),
        ("skipped_len", ">i4"),
        ("skipped", "u1"),
        ("device_len", ">i4"),
        ("device", f"S{_DEVICE_WIDTH}"),
        ("context_len", ">i4"),
        ("context", f"S{_CONTEXT_WIDTH}"),
        ("playlist_len", ">i4"),
        ("playlist", ">i8"),
    ]
)


def _event_layouts() -> tuple[np.ndarray, np.ndarray]:
    """Per row layout (device x context x which ids are NULL): the constant bytes of a
    record (field count and lengths) and which of its bytes the packed tuple keeps."""
    n_devices, n_contexts = len(DEVICES), len(CONTEXTS)
    layouts = n_devices * n_contexts * 8
    template = np.zeros(layouts, dtype=_EVENT_RECORD)
    keep = np.ones((layouts, _EVENT_RECORD.itemsize), dtype=bool)
    code = np.arange(layouts)
    device, context = code % n_devices, code // n_devices % n_contexts
    nulls = code // (n_devices * n_contexts)
    template["fields"] = len(EVENT_COLUMNS)
    for name, size in (("id", 8), ("listener", 8), ("played", 8), ("ms", 4), ("skipped", 1)):
        template[f"{name}_len"] = size
    for bit, name in enumerate(("track", "episode", "playlist")):
        null = (nulls >> bit) & 1 == 1
        template[f"{name}_len"] = np.where(null, -1, 8)
        offset = _EVENT_RECORD.fields[name][1]
        keep[null, offset : offset + 8] = False
    for name, words, codes, width in (
        ("device", DEVICES, device, _DEVICE_WIDTH),
        ("context", CONTEXTS, context, _CONTEXT_WIDTH),
    ):
        length = np.strings.str_len(words)[codes]
        template[f"{name}_len"] = length
        template[name] = words.astype(f"S{width}")[codes]
        offset = _EVENT_RECORD.fields[name][1]
        keep[:, offset : offset + width] = np.arange(width) < length[:, None]
    return template, keep


_LAYOUT_TEMPLATE, _LAYOUT_KEEP = _event_layouts()


def encode_events_binary(chunk: dict[str, np.ndarray]) -> memoryview:
    """A block of PostgreSQL binary COPY tuples for an event chunk, built without a Python loop.

    Every row is laid out at its widest (all ids present, text padded) from the template
    of its layout; the layout's byte mask then drops the data of NULL columns and the
    padding of short text, and one boolean index packs the tuples back to back.
    """
    n = len(chunk["id"])
    nulls = (
        (chunk["track_id"] == NULL_INT) * 1
        + (chunk["episode_id"] == NULL_INT) * 2
        + (chunk["playlist_id"] == NULL_INT) * 4
    )
    layout = chunk["device"] + len(DEVICES) * (chunk["context"] + len(CONTEXTS) * nulls)
    record = _LAYOUT_TEMPLATE[layout]
    record["id"] = chunk["id"]
    record["listener"] = chunk["listener_id"]
    record["track"] = chunk["track_id"]  # NULL rows' bytes are dropped by the mask
    record["episode"] = chunk["episode_id"]
    record["played"] = (chunk["played_at"] - EPOCH_2000) * 1_000_000
    record["ms"] = chunk["ms_played"]
    record["skipped"] = chunk["skipped"]
    record["playlist"] = chunk["playlist_id"]
    raw = record.view(np.uint8).reshape(n, _EVENT_RECORD.itemsize)
    return memoryview(raw[_LAYOUT_KEEP[layout]])


def _sqlite_event_columns(chunk: dict[str, np.ndarray]) -> list[list[Any]]:
    columns: list[list[Any]] = []
    for name in EVENT_COLUMNS:
        values = chunk[name]
        if name == "played_at":
            columns.append(_sqlite_column("datetime", values))
        elif name == "device":
            columns.append(DEVICES[values].tolist())
        elif name == "context":
            columns.append(CONTEXTS[values].tolist())
        elif name == "skipped":
            columns.append(values.astype(np.int64).tolist())
        else:
            columns.append(_sqlite_column("int", values))
    return columns


class EventWriter:
    """Streams event chunks into the event table: one binary COPY on PostgreSQL,
    executemany per chunk on SQLite (each chunk its own transaction there).

    `prepare` (encoding a chunk) touches no connection, so another thread may run it
    while this one writes the previous chunk.
    """

    def __init__(self, connection, table: str, *, freeze: bool = False) -> None:
        self.connection = connection
        self.table = table
        self.freeze = freeze
        self._copy = None
        self._stack = None
        self.bytes_written = 0

    def __enter__(self) -> EventWriter:
        if self.connection.vendor == "postgresql":
            from contextlib import ExitStack

            from psycopg.copy import LibpqWriter

            quote = self.connection.ops.quote_name
            options = "FORMAT BINARY, FREEZE" if self.freeze else "FORMAT BINARY"
            sql = (
                f"COPY {quote(self.table)} ({', '.join(quote(c) for c in EVENT_COLUMNS)}) "
                f"FROM STDIN ({options})"
            )
            self._stack = ExitStack()
            raw_cursor = self._stack.enter_context(self.connection.cursor()).cursor
            self._copy = self._stack.enter_context(raw_cursor.copy(sql, writer=LibpqWriter(raw_cursor)))
            self._copy.write(_BINARY_SIGNATURE)
        return self

    def prepare(self, chunk: dict[str, np.ndarray]) -> Any:
        if self.connection.vendor == "postgresql":
            return encode_events_binary(chunk)
        return _sqlite_event_columns(chunk)

    def write(self, prepared: Any) -> None:
        if self._copy is not None:
            self.bytes_written += prepared.nbytes
            self._copy.write(prepared)
        else:
            from django.db import transaction

            with transaction.atomic(using=self.connection.alias):
                _sqlite_insert(self.connection, self.table, EVENT_COLUMNS, prepared)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._copy is not None and exc is None:
            self._copy.write(_BINARY_TRAILER)
        if self._stack is not None:
            self._stack.__exit__(exc_type, exc, tb)


# -- Table maintenance -------------------------------------------------------------------------


def has_rows(model_list: Sequence[type[models.Model]], using: str) -> list[str]:
    """Labels of the models whose table holds at least one row."""
    return [m._meta.label for m in model_list if m._base_manager.using(using).exists()]


def empty_tables(connection, model_list: Sequence[type[models.Model]]) -> None:
    """Delete every row of these tables and restart their ids; the caller owns the transaction."""
    quote = connection.ops.quote_name
    tables = [m._meta.db_table for m in model_list]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(quote(t) for t in tables)} RESTART IDENTITY")
        else:
            # Children first: deleting a parent row makes SQLite look up its children.
            for table in reversed(tables):
                cursor.execute(f"DELETE FROM {quote(table)}")
            cursor.execute(
                f"DELETE FROM sqlite_sequence WHERE name IN ({', '.join('%s' for _ in tables)})", tables
            )


def reset_sequences(connection, model_list: Sequence[type[models.Model]]) -> None:
    """Point PostgreSQL's id sequences past the explicit ids that were loaded."""
    if connection.vendor != "postgresql":
        return  # SQLite's AUTOINCREMENT follows explicit ids by itself
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), list(model_list)):
            cursor.execute(statement)


def _pg_constraints(cursor, tables: Sequence[str], kind: str) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the constraints of one kind ('f' foreign key, 'u' unique)."""
    cursor.execute(
        """
        SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
        WHERE con.contype = %s AND rel.relname = ANY(%s)
          AND rel.relnamespace = current_schema()::regnamespace
        ORDER BY rel.relname, con.conname
        """,
        [kind, list(tables)],
    )
    return list(cursor.fetchall())


def _pg_plain_indexes(cursor, tables: Sequence[str]) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the indexes that back no constraint (not the primary
    key, not a unique constraint; Django's partial unique constraints are such indexes)."""
    cursor.execute(
        """
        SELECT rel.relname, idx.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class idx ON idx.oid = i.indexrelid
        JOIN pg_class rel ON rel.oid = i.indrelid
        WHERE rel.relname = ANY(%s) AND rel.relnamespace = current_schema()::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY rel.relname, idx.relname
        """,
        [list(tables)],
    )
    return list(cursor.fetchall())


class BulkLoadMode:
    """Load faster, then restore every dropped object exactly as the migrations made it.

    PostgreSQL: the foreign keys of `fk_tables` are dropped (each would queue one
    deferred trigger event per loaded row) and re-added afterwards, which validates all
    rows in one join per key. The plain indexes, unique constraints and primary keys of
    `index_tables` are dropped (a key only when no other foreign key points at its
    table) and rebuilt from their own definitions after the load: a sorted build beats
    millions of inserts, and a rebuilt unique index still checks every row. All of it
    happens inside the caller's transaction, so a failure brings them back by rolling
    back. SQLite: no fsync and a large page cache during the load.
    """

    def __init__(
        self, connection, *, fk_tables: Sequence[str] = (), index_tables: Sequence[str] = ()
    ) -> None:
        self.connection = connection
        self.fk_tables = list(fk_tables)
        self.index_tables = list(index_tables)
        self._foreign_keys: list[tuple[str, str, str]] = []
        self._uniques: list[tuple[str, str, str]] = []
        self._indexes: list[tuple[str, str, str]] = []
        self._pragmas: dict[str, int] = {}
        self.index_seconds: dict[str, float] = {}  # rebuild time of each index

    @property
    def dropped_indexes(self) -> list[str]:
        return [name for _, name, _ in self._indexes + self._uniques]

    def begin(self) -> None:
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            if self.connection.vendor != "postgresql":
                for pragma in ("synchronous", "cache_size"):
                    cursor.execute(f"PRAGMA {pragma}")
                    self._pragmas[pragma] = int(cursor.fetchone()[0])
                cursor.execute("PRAGMA temp_store")
                self._pragmas["temp_store"] = int(cursor.fetchone()[0])
                cursor.execute("PRAGMA cache_size = -262144")
                # SQLite refuses to change these inside a transaction (as in tests).
                if self.connection.in_atomic_block:
                    del self._pragmas["synchronous"], self._pragmas["temp_store"]
                else:
                    cursor.execute("PRAGMA synchronous = OFF")
                    cursor.execute("PRAGMA temp_store = MEMORY")
                return
            self._foreign_keys = _pg_constraints(cursor, self.fk_tables, "f")
            if self.index_tables:
                # A table's primary key and unique constraints can go only when every
                # foreign key pointing at the table is dropped too.
                dropped = {(table, name) for table, name, _ in self._foreign_keys}
                cursor.execute(
                    """
                    SELECT target.relname, source.relname, con.conname FROM pg_constraint con
                    JOIN pg_class target ON target.oid = con.confrelid
                    JOIN pg_class source ON source.oid = con.conrelid
                    WHERE con.contype = 'f' AND target.relname = ANY(%s)
                    """,
                    [self.index_tables],
                )
                referenced = cursor.fetchall()
                pinned = {target for target, source, name in referenced if (source, name) not in dropped}
                free = [t for t in self.index_tables if t not in pinned]
                self._uniques = _pg_constraints(cursor, free, "p") + _pg_constraints(cursor, free, "u")
                self._indexes = _pg_plain_indexes(cursor, self.index_tables)
            for table, name, _ in self._foreign_keys + self._uniques:
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
            for _, name, _ in self._indexes:
                cursor.execute(f"DROP INDEX {quote(name)}")

    def rebuild_indexes(self) -> None:
        if not self._uniques and not self._indexes:
            return
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            # Sorts of ten million keys fit in memory instead of spilling to disk.
            cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
            for table, name, definition in self._uniques:  # primary keys first
                started = time.perf_counter()
                cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
                self.index_seconds[name] = time.perf_counter() - started
            for _, name, definition in self._indexes:
                started = time.perf_counter()
                cursor.execute(definition)
                self.index_seconds[name] = time.perf_counter() - started

    def restore_foreign_keys(self) -> None:
        if not self._foreign_keys:
            return
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            # Each re-added key is checked by one anti-join of child and parent; with room for
            # the parent's hash table in memory it does not spill into batches.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            for table, name, definition in self._foreign_keys:
                cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")

    def analyze(self) -> None:
        """Fresh planner statistics for the loaded tables."""
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            if self.connection.vendor != "postgresql":
                cursor.execute("ANALYZE")
                return
            for table in dict.fromkeys([*self.fk_tables, *self.index_tables]):
                cursor.execute(f"ANALYZE {quote(table)}")

    def end(self) -> None:
        """Put SQLite's settings back (also after a failure); PostgreSQL needs nothing."""
        if self.connection.vendor == "postgresql" or not self._pragmas:
            return
        with self.connection.cursor() as cursor:
            for pragma, value in self._pragmas.items():
                cursor.execute(f"PRAGMA {pragma} = {value}")
        self._pragmas = {}


def event_table_referenced(connection, table: str) -> bool:
    """Whether another table has a foreign key to `table` (TRUNCATE would then fail)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = %s::regclass", [table]
        )
        return cursor.fetchone() is not None


def truncate(connection, table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {connection.ops.quote_name(table)}")

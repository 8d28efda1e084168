"""Refresh the three rollup modules (listening, content, revenue), at the same time where
the database allows it.

The modules read only source tables and write only their own rollups, so none waits for
another. On PostgreSQL each runs in its own thread and connection, so a machine's cores
share the three refreshes. The gain grows with the cores: on two, where PostgreSQL already
spreads the largest statements over both, a full rebuild gains 7% and a one-day refresh
25%. SQLite allows one writer at a time,
and a caller inside a transaction needs its own connection to see its uncommitted rows:
both refresh the modules one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from types import ModuleType

from django.db import connection

Progress = Callable[[str, int, int], None]


def runs_in_parallel() -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def refresh_modules(
    modules: Sequence[tuple[str, ModuleType]],
    *,
    since: date | None,
    full: bool,
    today: date,
    progress_for: Callable[[str], Progress | None],
) -> list[tuple[str, dict[str, int]]]:
    """`(name, rows written per table)` of each module, in the order given. When a module
    fails, the others still finish (each commits on its own) and its error is raised."""
    options = {"since": since, "full": full, "today": today}
    if not runs_in_parallel():
        return [(name, module.refresh(**options, progress=progress_for(name))) for name, module in modules]
    with ThreadPoolExecutor(max_workers=len(modules), thread_name_prefix="rollups") as pool:
        futures = [
            (name, pool.submit(_in_own_connection, module.refresh, **options, progress=progress_for(name)))
            for name, module in modules
        ]
        return [(name, future.result()) for name, future in futures]


def _in_own_connection(refresh: Callable[..., dict[str, int]], **options) -> dict[str, int]:
    # Django gives each thread its own connection; close it, or it outlives the thread.
    try:
        with connection.cursor() as cursor:
            # As in the refresh's own transactions (`_sql.atomic`): its statements outside
            # them, such as the first look at new events, spent four times their work on
            # compiling themselves.
            cursor.execute("SET jit = off")
        return refresh(**options)
    finally:
        connection.close()

"""The `refresh_rollups` command: order of the modules, options, summary and bad input."""

from __future__ import annotations

import re
import threading
import zlib
from datetime import date
from io import StringIO

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

import analytics.rollups
import billing.rollups
import catalog.rollups
from analytics.management.commands import refresh_rollups
from analytics.models import ActiveListenersDay, ActivityDay
from analytics.seeding.config import build_config
from analytics.seeding.progress import Reporter
from analytics.seeding.runner import seed_database
from catalog.models import CountryListeners
from tests.factories import at, make_event, make_listener, make_track
from tests.schema import pg_schema


@pytest.fixture
def plays(db):
    track = make_track()
    listener = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    make_event(listener, played_at=at(2026, 1, 10, 8), track=track)
    make_event(listener, played_at=at(2026, 2, 3, 17, 45), track=track)


def run(*args: str) -> str:
    out = StringIO()
    call_command("refresh_rollups", *args, stdout=out)
    return out.getvalue()


def test_refresh_rollups_refreshes_and_prints_one_summary_line(plays):
    output = run("--today", "2026-03-31")
    assert re.fullmatch(
        r"Refreshed rollups in \d+\.\d s: listening [\d,]+ rows, content [\d,]+ rows, revenue [\d,]+ rows; "
        r"events up to 2026-02-03 17:45\.\n",
        output,
    )
    assert list(ActivityDay.objects.values_list("day", flat=True).order_by("day")) == [
        date(2026, 1, 10),
        date(2026, 2, 3),
    ]
    # Rolling windows are kept up to 27 days after the last play: Mar 2.
    assert ActiveListenersDay.objects.filter(country="", device="").latest("day").day == date(2026, 3, 2)


def test_refresh_rollups_run_again_writes_no_listening_rows(plays):
    run("--today", "2026-03-31")
    before = list(ActiveListenersDay.objects.values_list("day", "country", "device", "dau", "wau", "r28"))
    assert "listening 0 rows" in run("--today", "2026-03-31")
    assert (
        list(ActiveListenersDay.objects.values_list("day", "country", "device", "dau", "wau", "r28"))
        == before
    )


def test_refresh_rollups_calls_every_module_in_order(monkeypatch, db):
    calls = []
    for name, module in refresh_rollups.MODULES:

        def fake(*, since, full, today, progress=None, name=name):
            calls.append((name, since, full, today))
            return {"table": 2}

        monkeypatch.setattr(module, "refresh", fake)
    monkeypatch.setattr(refresh_rollups.analytics.rollups, "freshness", lambda: None)
    output = run("--since", "2026-02-01", "--today", "2026-03-31", "-v", "2")
    assert calls == [
        ("listening", date(2026, 2, 1), False, date(2026, 3, 31)),
        ("content", date(2026, 2, 1), False, date(2026, 3, 31)),
        ("revenue", date(2026, 2, 1), False, date(2026, 3, 31)),
    ]
    assert "  content: table 2\n" in output
    assert output.endswith("listening 2 rows, content 2 rows, revenue 2 rows; no events yet.\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-13-01"], "--since must be a date as YYYY-MM-DD; got '2026-13-01'."),
        (["--since", "yesterday"], "--since must be a date as YYYY-MM-DD; got 'yesterday'."),
        (
            ["--since", "2026-04-01", "--today", "2026-03-31"],
            "--since cannot be after today (2026-03-31); got 2026-04-01.",
        ),
        (["--since", "2026-03-01", "--full"], "Use either --since or --full, not both."),
        (["--today", "31/03/2026"], "--today must be a date as YYYY-MM-DD; got '31/03/2026'."),
    ],
)
def test_refresh_rollups_rejects_bad_options_and_changes_nothing(plays, args, message):
    with pytest.raises(CommandError) as error:
        run(*args)
    assert str(error.value) == message
    assert not ActivityDay.objects.exists()


def test_refresh_rollups_stops_on_a_listener_id_the_bitmaps_cannot_hold(plays):
    run("--today", "2026-03-31")
    before = list(CountryListeners.objects.order_by("pk").values_list("grain", "period", "listeners"))
    listener = make_listener(id=catalog.rollups.MAX_BITMAP_ID + 1)
    make_event(listener, played_at=at(2026, 1, 10, 9), track=make_track())

    with pytest.raises(CommandError, match="Listener id 4294967296 is above 4294967295"):
        run("--today", "2026-03-31", "--full")

    assert list(CountryListeners.objects.order_by("pk").values_list("grain", "period", "listeners")) == before


def test_refresh_rollups_exits_non_zero_on_bad_input(capsys):
    with pytest.raises(SystemExit) as exit_:
        refresh_rollups.Command().run_from_argv(["manage.py", "refresh_rollups", "--since", "soon"])
    assert exit_.value.code == 1
    assert "--since must be a date as YYYY-MM-DD; got 'soon'." in capsys.readouterr().err


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers itself")
def test_refresh_rollups_holds_a_lock_that_a_second_refresh_waits_for(monkeypatch, db):
    key = zlib.crc32(b"spotilytics-rollups-refresh_rollups")
    settings = connection.settings_dict
    seen = []

    def lock_taken_elsewhere() -> bool:
        with psycopg.connect(
            dbname=settings["NAME"],
            host=settings["HOST"],
            port=settings["PORT"] or 5432,
            user=settings["USER"],
        ) as other:
            taken = not other.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]
            if not taken:
                other.execute("SELECT pg_advisory_unlock(%s)", [key])
            return taken

    for _name, module in refresh_rollups.MODULES:
        monkeypatch.setattr(module, "refresh", lambda **kwargs: seen.append(lock_taken_elsewhere()) or {})
    monkeypatch.setattr(refresh_rollups.analytics.rollups, "freshness", lambda: None)
    run("--today", "2026-03-31")
    assert seen == [True, True, True]
    assert not lock_taken_elsewhere()


def _rollup_rows() -> dict[str, list[tuple]]:
    """Every row of every rollup table, without ids, sorted."""
    models = [
        *analytics.rollups.ROLLUP_MODELS,
        *catalog.rollups._REBUILT,
        *billing.rollups._TABLES.values(),
    ]
    out = {}
    for model in models:
        fields = [field.attname for field in model._meta.concrete_fields if not field.primary_key]
        out[model.__name__] = sorted(model.objects.values_list(*fields))
    return out


def _exclusively_locked_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE l.pid = pg_backend_pid() AND l.mode = 'AccessExclusiveLock' AND c.relkind = 'r'
            """
        )
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="threads and bulk loads are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_full_refresh_in_parallel_with_dropped_indexes_equals_one_inside_a_transaction(monkeypatch):
    seed_database(
        build_config(
            listeners=150,
            events=6_000,
            months=3,
            end_date="2026-03-01",
            today=date(2026, 3, 1),
            time_zone=settings.TIME_ZONE,
        ),
        reporter=Reporter(None),
    )
    tables = [model._meta.db_table for model in [*analytics.rollups.ROLLUP_MODELS, *catalog.rollups._REBUILT]]
    schema = pg_schema(tables)
    threads = {}
    for name, module in refresh_rollups.MODULES:

        def refresh(*, _refresh=module.refresh, _name=name, **options):
            threads[_name] = threading.current_thread() is threading.main_thread()
            return _refresh(**options)

        monkeypatch.setattr(module, "refresh", refresh)

    # What each bulk rebuild holds exclusively while it fills its tables: its own
    # tables only, so admin pages keep reading listeners and tracks meanwhile.
    exclusive: dict[str, set[str]] = {}
    for name, module, function, fill in [
        ("listening", analytics.rollups, "insert_listening_days", analytics.rollups.insert_listening_days),
        ("content", catalog.rollups, "_rebuild_month", catalog.rollups._rebuild_month),
    ]:

        def record(*args, _fill=fill, _name=name, **kwargs):
            exclusive.setdefault(_name, set()).update(_exclusively_locked_tables())
            return _fill(*args, **kwargs)

        monkeypatch.setattr(module, function, record)

    run("--full", "--today", "2026-03-01")
    assert threads == {"listening": False, "content": False, "revenue": False}
    assert pg_schema(tables) == schema
    assert exclusive["listening"] and exclusive["listening"] <= set(tables)
    assert exclusive["content"] and exclusive["content"] <= set(tables)
    in_parallel = _rollup_rows()
    assert in_parallel["ListeningDay"] and in_parallel["TrackCountryStreams"] and in_parallel["SubscriberDay"]

    # Inside a transaction: one module after the other, into the indexed tables.
    with transaction.atomic():
        run("--full", "--today", "2026-03-01")
    assert threads == {"listening": True, "content": True, "revenue": True}
    assert _rollup_rows() == in_parallel

"""`manage.py seed` as a command: options, refusals, determinism and the loaders' fidelity."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncDate

from analytics.models import ListeningEvent
from analytics.seeding import events as seeding_events
from analytics.seeding.config import build_config
from analytics.seeding.loading import CONTEXTS, DEVICES, NULL_INT, _kind
from analytics.seeding.progress import Reporter
from analytics.seeding.runner import SEEDED_MODELS, Blueprint, seed_database
from billing.models import Listener, Payment, Plan
from catalog.models import Album, Track
from tests.schema import pg_schema

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"listeners": 200, "events": 20_000, "months": 6, "end_date": "2026-11-01"}


def _digests() -> dict[str, str]:
    """A hash of every seeded table's rows in id order."""
    found = {}
    for model in SEEDED_MODELS:
        names = [f.attname for f in model._meta.concrete_fields]
        digest = hashlib.sha256()
        for row in model._base_manager.order_by("pk").values_list(*names):
            digest.update(repr(row).encode())
        found[model._meta.label] = digest.hexdigest()
    return found


def _seed(**options) -> str:
    out = StringIO()
    call_command("seed", **{**SMALL, "quiet": True, "skip_rollups": True, **options}, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_same_seed_gives_the_same_rows_and_another_seed_other_rows():
    _seed()
    first = _digests()
    _seed(flush=True)
    assert _digests() == first
    _seed(flush=True, seed=7)
    other = _digests()
    changed = {label for label in first if other[label] != first[label]}
    assert {"billing.Listener", "billing.Payment", "analytics.ListeningEvent", "catalog.Track"} <= changed


def _expected(model, column: str, value):
    kind = _kind(model, column)
    if kind == "text":
        return value.decode() if isinstance(value, bytes) else value
    if kind == "float":
        return None if math.isnan(value) else float(value)
    if kind == "bool":
        return bool(value)
    if value == NULL_INT:
        return None
    value = int(value)
    if kind == "datetime":
        return datetime.fromtimestamp(value, tz=UTC)
    if kind == "date":
        return date.fromordinal(date(1970, 1, 1).toordinal() + value)
    if kind == "money":
        return Decimal(value) / 100
    return value


@pytest.mark.django_db
def test_seed_stores_exactly_the_generated_values():
    """Both loaders (COPY on PostgreSQL, executemany on SQLite) round-trip every column."""
    _seed()
    config = build_config(**SMALL, today=date(2026, 11, 22), time_zone="UTC")
    blueprint = Blueprint(config)
    for part in (blueprint.catalog, blueprint.listeners, blueprint.billing, blueprint.playlists):
        for rows in part():
            columns = list(rows.columns)
            attnames = [f.attname for c in columns for f in rows.model._meta.concrete_fields if f.column == c]
            stored = list(rows.model._base_manager.order_by("pk").values_list(*attnames))
            assert len(stored) == len(rows), rows.model
            for index in range(0, len(rows), max(1, len(rows) // 200)):
                expected = tuple(_expected(rows.model, c, rows.columns[c][index]) for c in columns)
                assert stored[index] == expected, (rows.model, index)

    generated = list(blueprint.event_chunks())
    columns = ("id", "listener_id", "track_id", "episode_id", "played_at", "ms_played", "skipped")
    stored = ListeningEvent.objects.order_by("id").values_list(*columns, "device", "context", "playlist_id")
    stored_rows = iter(stored)
    total = 0
    for chunk in generated:
        for i in range(len(chunk["id"])):
            row = next(stored_rows)
            nullable = [
                None if chunk[c][i] == NULL_INT else int(chunk[c][i]) for c in ("track_id", "episode_id")
            ]
            playlist = None if chunk["playlist_id"][i] == NULL_INT else int(chunk["playlist_id"][i])
            assert row == (
                int(chunk["id"][i]),
                int(chunk["listener_id"][i]),
                *nullable,
                datetime.fromtimestamp(int(chunk["played_at"][i]), tz=UTC),
                int(chunk["ms_played"][i]),
                bool(chunk["skipped"][i]),
                str(DEVICES[chunk["device"][i]]),
                str(CONTEXTS[chunk["context"][i]]),
                playlist,
            )
            total += 1
    assert total == ListeningEvent.objects.count() > 0


@pytest.mark.django_db
def test_seed_refuses_a_database_with_data_unless_flushed():
    _seed()
    before = _digests()
    with pytest.raises(CommandError, match="--flush"):
        _seed(seed=5)
    assert _digests() == before


@pytest.mark.django_db
def test_seed_if_empty_leaves_a_database_with_data_alone():
    _seed()
    before = _digests()
    out = StringIO()
    call_command("seed", scale="demo", if_empty=True, stdout=out)
    assert out.getvalue().strip() == "The database already has data; nothing seeded (--if-empty)."
    assert _digests() == before


@pytest.mark.django_db
def test_seed_if_empty_seeds_an_empty_database():
    _seed(if_empty=True)
    assert Listener.objects.count() == 200


@pytest.mark.django_db
def test_seed_flush_keeps_users():
    User.objects.create_user("analyst", password="pw-analyst-123")
    _seed()
    _seed(flush=True)
    assert User.objects.filter(username="analyst").exists()


@pytest.mark.django_db
def test_seed_prints_progress_timings_and_a_summary_table():
    output = _seed(quiet=False)
    for phase in (
        "catalog",
        "listeners",
        "subscriptions",
        "playlists",
        "listening events",
        "follows and ratings",
    ):
        assert f"  {phase} " in output
    assert "billing.Listener" in output and "analytics.ListeningEvent" in output
    assert output.strip().splitlines()[-1].startswith("Seeded ")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scale": "huge"}, "--scale must be one of demo, small, medium, large; got 'huge'."),
        ({"listeners": "many"}, "--listeners must be a whole number; got 'many'."),
        ({"listeners": "5"}, "--listeners must be between 20 and 5,000,000; got 5."),
        ({"events": "-1"}, "--events must be between 0 and 500,000,000; got -1."),
        ({"months": "0"}, "--months must be between 1 and 36; got 0."),
        ({"seed": "x1"}, "--seed must be a whole number; got 'x1'."),
        ({"end_date": "2026-13-01"}, "--end-date must be a date as YYYY-MM-DD; got '2026-13-01'."),
        ({"end_date": "2999-01-01"}, "--end-date cannot be after today"),
        ({"flush": True, "if_empty": True}, "--flush and --if-empty contradict each other; use one."),
    ],
)
@pytest.mark.django_db
def test_seed_rejects_bad_option_values(options, message):
    with pytest.raises(CommandError) as raised:
        call_command("seed", **{"quiet": True, **options})
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert not Listener.objects.exists()


def test_seed_bad_option_exits_non_zero_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'unused.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "manage.py", "seed", "--months", "forty"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["CommandError: --months must be a whole number; got 'forty'."]


@pytest.mark.django_db(transaction=True)
def test_seed_failure_keeps_nothing_half_loaded(monkeypatch):
    """PostgreSQL rolls the whole seed back; SQLite, which commits events chunk by chunk,
    empties the seeded tables rather than leave them half filled."""
    _seed()
    before = _digests()

    def broken(self, number):
        raise RuntimeError("generator broke")

    monkeypatch.setattr(seeding_events.EventGenerator, "generate", broken)
    with pytest.raises(RuntimeError, match="generator broke"):
        _seed(flush=True, seed=3)
    if connection.vendor == "postgresql":
        assert _digests() == before
    else:
        assert not any(model._base_manager.exists() for model in SEEDED_MODELS)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="drops and rebuilds PostgreSQL objects")
@pytest.mark.django_db
def test_seed_postgres_restores_dropped_indexes_and_foreign_keys_exactly():
    tables = [m._meta.db_table for m in SEEDED_MODELS]
    before = pg_schema(tables)
    config = build_config(**SMALL, today=date(2026, 11, 22), time_zone="UTC")
    reporter = Reporter(None)
    # Rebuild the indexes even at this size, to go through that path.
    result = seed_database(config, reporter=reporter, rebuild_indexes_from=1)
    assert result.phase_seconds("indexes") > 0
    assert any(name.startswith("event_") for _, name, _ in before[0])
    assert pg_schema(tables) == before
    assert (
        ListeningEvent.objects.filter(listener__isnull=False).count()
        == result.counts["analytics.ListeningEvent"]
    )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's storage format")
@pytest.mark.django_db
def test_seed_sqlite_stores_values_as_the_orm_does():
    """Raw SQLite values (text dates, numeric money) equal what the ORM writes for them,
    so string comparisons in SQL filters see seeded and hand-made rows alike."""
    _seed()

    def raw(table: str, column: str, pk: int) -> str:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT quote({column}) FROM {table} WHERE id = %s", [pk])
            return cursor.fetchone()[0]

    checks = [
        (Listener.objects.order_by("pk").first(), "billing_listener", ["signed_up_at", "birth_year"]),
        (Plan.objects.get(code="individual"), "billing_plan", ["price", "is_active"]),
        (
            Payment.objects.filter(refunded_at__isnull=False).first(),
            "billing_payment",
            ["amount", "refunded_at"],
        ),
        (Track.objects.order_by("pk").first(), "catalog_track", ["energy", "explicit", "isrc"]),
        (Album.objects.order_by("pk").first(), "catalog_album", ["release_date"]),
    ]
    for obj, table, columns in checks:
        seeded = [raw(table, c, obj.pk) for c in columns]
        obj.save()
        assert [raw(table, c, obj.pk) for c in columns] == seeded, table
    assert raw("billing_listener", "signed_up_at", checks[0][0].pk).count(":") == 2


def test_seed_refreshes_the_rollups_so_pages_see_the_data_at_once(db):
    from analytics.rollups import freshness

    _seed(skip_rollups=False)

    assert freshness() is not None


@pytest.mark.django_db
def test_seed_partial_first_and_last_months_get_plays_for_their_days_only():
    # 3 months ending Nov 5: Aug 5-31 and Nov 1-4 are partial. Their plays per day must
    # be like their whole neighbours', not a whole month's plays squeezed into a few days.
    _seed(listeners=400, events=30_000, months=3, end_date="2026-11-05")
    per_day = dict(
        ListeningEvent.objects.annotate(day=TruncDate("played_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )

    def daily_mean(first: date, last: date) -> float:
        days = (last - first).days + 1
        return sum(n for day, n in per_day.items() if first <= day <= last) / days

    october = daily_mean(date(2026, 10, 1), date(2026, 10, 31))
    september = daily_mean(date(2026, 9, 1), date(2026, 9, 30))
    assert 0.6 < daily_mean(date(2026, 11, 1), date(2026, 11, 4)) / october < 1.6
    assert 0.5 < daily_mean(date(2026, 8, 5), date(2026, 8, 31)) / september < 1.6


@pytest.mark.django_db(transaction=True)
def test_seed_failing_while_generating_events_raises_and_leaves_no_seeded_rows(monkeypatch):
    # Several chunks, the second breaks in the generating thread: the error reaches the
    # command and the tables are as empty as before.
    monkeypatch.setattr(seeding_events, "CHUNK_EVENTS", 2_000)
    generate = seeding_events.EventGenerator.generate

    def broken(self, number):
        if number == 1:
            raise RuntimeError("generator broke")
        return generate(self, number)

    monkeypatch.setattr(seeding_events.EventGenerator, "generate", broken)
    with pytest.raises(RuntimeError, match="generator broke"):
        _seed()
    assert [model._meta.label for model in SEEDED_MODELS if model._base_manager.exists()] == []

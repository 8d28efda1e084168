"""The seed's phases in order: generate each part, load it, report timings and counts."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from analytics.models import Assignment, Experiment, ListeningEvent, Variant
from analytics.seeding.billing import build_billing
from analytics.seeding.catalog import GENRE_NAMES, build_catalog
from analytics.seeding.config import SeedConfig
from analytics.seeding.events import EventGenerator, EventPlan, plan_events
from analytics.seeding.experiments import build_experiments
from analytics.seeding.listeners import build_listeners
from analytics.seeding.loading import (
    BulkLoadMode,
    EventWriter,
    Rows,
    empty_tables,
    event_table_referenced,
    has_rows,
    load_rows,
    reset_sequences,
    truncate,
)
from analytics.seeding.progress import Reporter
from analytics.seeding.social import SocialCollector, build_playlists
from analytics.seeding.timeline import build_timeline, to_datetime
from billing.models import Listener, Payment, Plan, Subscription
from catalog.models import (
    Album,
    Artist,
    Episode,
    Follow,
    Genre,
    Playlist,
    PlaylistItem,
    Podcast,
    Rating,
    Track,
)

# Every table the seed writes, parents first. `--flush` empties exactly these.
SEEDED_MODELS: list[type[models.Model]] = [
    Plan,
    Genre,
    Artist,
    Artist.genres.through,
    Album,
    Track,
    Track.featured_artists.through,
    Podcast,
    Episode,
    Listener,
    Experiment,
    Variant,
    Assignment,
    Subscription,
    Payment,
    Playlist,
    PlaylistItem,
    ListeningEvent,
    Follow,
    Rating,
]
_SEEDED_APPS = ("billing", "catalog", "analytics")


def flushed_models() -> list[type[models.Model]]:
    """The seeded tables plus every table derived from them, which `--flush` empties.

    Derived tables are the other models of the seeded apps (rollups and their
    watermarks: left behind they would describe data that is gone, and a watermark past
    the new ids would hide the new rows from an incremental refresh) and any model
    elsewhere with a foreign key into these. Users, groups and tokens are never included.
    """
    found: list[type[models.Model]] = list(SEEDED_MODELS)
    candidates = [m for m in apps.get_models(include_auto_created=True) if m._meta.app_label != "auth"]
    changed = True
    while changed:
        changed = False
        for model in candidates:
            if model in found or model._meta.proxy or not model._meta.managed:
                continue
            derived = model._meta.app_label in _SEEDED_APPS
            refers = any(
                f.is_relation and f.many_to_one and f.related_model in found
                for f in model._meta.concrete_fields
            )
            if derived or refers:
                found.append(model)
                changed = True
    return found


# From this many events on, PostgreSQL loads without secondary indexes and unique
# constraints and rebuilds them afterwards (see benchmarks/seed.py for the figures).
REBUILD_INDEXES_FROM = 1_000_000
# Independent random streams per phase: changing one phase leaves the others' data alone.
_CATALOG, _LISTENERS, _EXPERIMENTS, _BILLING, _PLAYLISTS, _EVENT_PLAN, _QUALITY = range(1, 8)


class SeedRefused(Exception):
    """The database already holds data and no flush was asked for."""


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)
    timings: list[tuple[str, float, int, str]] = field(default_factory=list)
    seconds: float = 0.0
    event_copy_bytes: int = 0
    index_seconds: dict[str, float] = field(default_factory=dict)

    def phase_seconds(self, name: str) -> float:
        return sum(seconds for phase, seconds, _, _ in self.timings if phase == name)


def tables_with_data(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    return has_rows(SEEDED_MODELS, using)


class Blueprint:
    """Generates the seed part by part, in order; the same config gives the same parts.

    Each part has its own random stream, so the rows do not depend on how (or whether)
    the earlier parts were loaded: a benchmark can regenerate the very same events.
    """

    def __init__(self, config: SeedConfig) -> None:
        self.config = config
        self.timeline = build_timeline(config)

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, stream])

    def catalog(self) -> list[Rows]:
        self.catalog_data, rows = build_catalog(self.config, self.timeline, self._rng(_CATALOG))
        return rows

    def listeners(self) -> list[Rows]:
        self.listener_data, rows = build_listeners(
            self.config, self.timeline, GENRE_NAMES, self.catalog_data.genre_share, self._rng(_LISTENERS)
        )
        self.boost, more = build_experiments(self.listener_data, self.timeline, self._rng(_EXPERIMENTS))
        return rows + more

    def billing(self) -> list[Rows]:
        self.billing_data, rows = build_billing(
            self.listener_data, self.timeline, self.boost, self._rng(_BILLING)
        )
        return rows

    def playlists(self) -> list[Rows]:
        self.playlist_data, rows = build_playlists(
            self.catalog_data, self.listener_data, self.timeline, self._rng(_PLAYLISTS)
        )
        return rows

    def events(self) -> tuple[EventPlan, EventGenerator, SocialCollector]:
        plan = plan_events(self.config, self.listener_data, self._rng(_EVENT_PLAN))
        generator = EventGenerator(
            config=self.config,
            timeline=self.timeline,
            catalog=self.catalog_data,
            listeners=self.listener_data,
            playlists=self.playlist_data,
            paid_in_bucket=self.billing_data.paid_in_bucket,
            plan=plan,
        )
        social = SocialCollector(
            catalog=self.catalog_data,
            end=self.timeline.end,
            seed=self.config.seed,
            track_quality=self._rng(_QUALITY).normal(0, 0.5, self.catalog_data.tracks),
        )
        return plan, generator, social

    def event_chunks(self) -> Iterator[dict[str, np.ndarray]]:
        """Every event chunk with its ids, as the seed loads them (after the other parts)."""
        _, generator, _ = self.events()
        return chunks_with_ids(generator)


def chunks_with_ids(generator: EventGenerator) -> Iterator[dict[str, np.ndarray]]:
    next_id = 1
    for number in range(len(generator.plan.chunks)):
        chunk = generator.generate(number)
        size = len(chunk["listener_id"])
        chunk["id"] = np.arange(next_id, next_id + size)
        next_id += size
        yield chunk


_WRITER_SWITCH_INTERVAL = 0.00005  # seconds


def _prepared_in_background(
    generator: EventGenerator, social: SocialCollector, prepare: Callable[[dict], Any]
) -> Iterator[tuple[int, Any]]:
    """(rows, prepared block) of every chunk, made by a second thread one or two chunks ahead.

    numpy lets go of the interpreter lock in its big loops, so generating the next chunk
    overlaps with writing this one (the database works in its own process meanwhile).
    """
    blocks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: Any) -> bool:
        # Gives up once the consumer has stopped, so the thread never hangs on a full queue.
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for number, chunk in enumerate(chunks_with_ids(generator)):
                social.collect(chunk, number)
                if not put((len(chunk["id"]), prepare(chunk))):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    worker = threading.Thread(target=produce, name="seed-events", daemon=True)
    # The writer hands the COPY data to libpq in 128 kB pieces and needs the interpreter
    # lock for each; at the default 5 ms switch interval it mostly waits for the
    # generating thread to let go of it.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(_WRITER_SWITCH_INTERVAL)
    worker.start()
    try:
        while (item := blocks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(switch_interval)


def seed_database(
    config: SeedConfig,
    *,
    reporter: Reporter,
    flush: bool = False,
    using: str = DEFAULT_DB_ALIAS,
    rebuild_indexes_from: int = REBUILD_INDEXES_FROM,
) -> SeedResult:
    """Fill the seeded tables from `config`; refuses a database with data unless `flush`."""
    connection = connections[using]
    existing = tables_with_data(using)
    if existing and not flush:
        raise SeedRefused(
            f"The database already has data ({', '.join(existing[:3])}{'...' if len(existing) > 3 else ''}); "
            "run with --flush to replace it, or --if-empty to keep it."
        )
    postgres = connection.vendor == "postgresql"
    started = time.perf_counter()
    result = SeedResult()
    blueprint = Blueprint(config)
    timeline = blueprint.timeline
    reporter.write(
        f"Seeding {config.listeners:,} listeners and about {config.events:,} events over {config.months} "
        f"months up to {to_datetime(timeline.end):%Y-%m-%d %H:%M} UTC, seed {config.seed}, "
        f"on {connection.vendor} ({connection.settings_dict['NAME']})."
    )
    event_table = ListeningEvent._meta.db_table
    tables = [m._meta.db_table for m in SEEDED_MODELS]
    bulk = BulkLoadMode(
        connection,
        fk_tables=tables if postgres else (),
        index_tables=tables if postgres and config.events >= rebuild_indexes_from else (),
    )

    def load(rows_list: list[Rows], phase) -> None:
        for rows in rows_list:
            load_rows(connection, rows)
            result.counts[rows.model._meta.label] = len(rows)
            phase.advance(len(rows))

    # PostgreSQL: one transaction, so a failure leaves the database as it was. SQLite:
    # events commit chunk by chunk; a failure empties the seeded tables again.
    with transaction.atomic(using=using) if postgres else nullcontext():
        try:
            with reporter.phase("prepare") if postgres else nullcontext():
                bulk.begin()  # PostgreSQL: drop what the load must not maintain row by row
            with transaction.atomic(using=using):
                if flush:
                    with reporter.phase("flush", unit="tables") as phase:
                        emptied = flushed_models()
                        empty_tables(connection, emptied)
                        phase.advance(len(emptied))
                for name, part in (
                    ("catalog", blueprint.catalog),
                    ("listeners", blueprint.listeners),
                    ("subscriptions", blueprint.billing),
                    ("playlists", blueprint.playlists),
                ):
                    with reporter.phase(name) as phase:
                        rows = part()
                        phase.total = sum(map(len, rows))
                        load(rows, phase)

            plan, generator, social = blueprint.events()
            # COPY FREEZE writes rows already frozen and visible (no later rewrite of every
            # page); it needs the table truncated in the same transaction.
            freeze = postgres and not event_table_referenced(connection, event_table)
            if freeze:
                truncate(connection, event_table)
            with reporter.phase("listening events", plan.total, "events") as phase:
                phase.advance(0)
                with EventWriter(connection, event_table, freeze=freeze) as writer:
                    for size, prepared in _prepared_in_background(generator, social, writer.prepare):
                        writer.write(prepared)
                        phase.advance(size)
                result.counts[ListeningEvent._meta.label] = phase.done
                result.event_copy_bytes = writer.bytes_written

            with transaction.atomic(using=using):
                with reporter.phase("follows and ratings") as phase:
                    rows = social.rows()
                    phase.total = sum(map(len, rows))
                    load(rows, phase)
                reset_sequences(connection, SEEDED_MODELS)
            if bulk.dropped_indexes:
                with reporter.phase("indexes", len(bulk.dropped_indexes), "indexes") as phase:
                    bulk.rebuild_indexes()
                    phase.advance(len(bulk.dropped_indexes))
            if postgres:
                with reporter.phase("foreign keys") as phase:
                    bulk.restore_foreign_keys()
            bulk.end()
            with reporter.phase("analyze") as phase:
                bulk.analyze()
            committing = time.perf_counter()
        except BaseException:
            bulk.end()
            if not postgres and not connection.in_atomic_block:
                with transaction.atomic(using=using):
                    empty_tables(connection, flushed_models())
            raise

    if postgres:
        reporter.record("commit", time.perf_counter() - committing)
    result.timings = list(reporter.timings)
    result.index_seconds = dict(bulk.index_seconds)
    result.seconds = time.perf_counter() - started
    return result

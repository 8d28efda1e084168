"""Whether the source tables a rollup part reads changed since it last read them.

A refresh that finds its tables as it left them skips the work only they feed: the
revenue rollups as a whole, the rating and follower totals, the cohort sizes. Each is a
read of every row of its tables (at 10M events the revenue rollups alone took longer
than the day's listening rollups), and most refreshes follow a day of new plays, not of
billing or catalog edits.

A table's mark is its `SourceVersion`, raised in the same transaction as every save and
delete made through Django (the admin, imports, services: by signals; bulk `update`,
`bulk_update` and `bulk_create`, which send none, through the models'
`spotilytics.db.ChangeTrackedQuerySet`), with its highest id,
which rows added by a bulk load (the seed's COPY) raise too, and the reporting time
zone. Rows edited or deleted in raw SQL are not seen: run `refresh_rollups --since` or
`--full` after such edits, as after deleting events.

Writes to listeners, subscriptions and payments also record which listeners they
concern and from when (`billing.changes`), so the revenue refresh knows where.
"""

from __future__ import annotations

import json

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Max, Model
from django.db.models.signals import post_delete, post_save

from analytics.models import RollupState, SourceVersion

# Every table a skippable part reads, as model labels.
TRACKED = (
    "billing.listener",
    "billing.subscription",
    "billing.payment",
    "catalog.track",
    "catalog.rating",
    "catalog.follow",
)

Marks = str


def connect() -> None:
    """Raise a tracked table's version on every save and delete (`AppConfig.ready`)."""
    for label in TRACKED:
        model = apps.get_model(label)
        post_save.connect(_changed, sender=model, dispatch_uid=f"sources.{label}.save")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"sources.{label}.delete")


def _changed(sender: type[Model], using: str, **kwargs) -> None:
    mark_changed(sender, using=using)


def mark_changed(*models: type[Model], using: str = DEFAULT_DB_ALIAS) -> None:
    """Record that rows of `models` changed, in the caller's transaction: a refresh sees
    the change exactly when it sees the rows."""
    connection = connections[using]
    table = connection.ops.quote_name(SourceVersion._meta.db_table)
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(
                f"INSERT INTO {table} (source, version) VALUES (%s, 1) "
                f"ON CONFLICT (source) DO UPDATE SET version = {table}.version + 1",
                [model._meta.label_lower],
            )


def marks(*models: type[Model]) -> Marks:
    """The marks of `models` now, as JSON text: read before the rows they stand for, so
    a change made meanwhile is seen again by the next refresh."""
    labels = [model._meta.label_lower for model in models]
    versions = dict(SourceVersion.objects.filter(source__in=labels).values_list("source", "version"))
    found: dict[str, object] = {"time_zone": settings.TIME_ZONE}
    for label, model in zip(labels, models, strict=True):
        highest = model.objects.order_by().aggregate(highest=Max("pk"))["highest"]
        found[label] = [versions.get(label, 0), highest or 0]
    return json.dumps(found, sort_keys=True)


def unchanged(part: str, now: Marks) -> bool:
    """Whether `part`'s last completed refresh read the tables as `now` marks them."""
    seen = RollupState.objects.filter(module=part).values_list("sources_seen", flat=True).first()
    return seen == now


def grown_unmarked(part: str, now: Marks) -> bool:
    """Whether a table of `now` has a higher id than `part`'s last refresh read with the
    same version: rows added without Django (a bulk load), which no change record names.
    True when there is no last refresh to compare with."""
    seen = RollupState.objects.filter(module=part).values_list("sources_seen", flat=True).first()
    if not seen:
        return True
    before, after = json.loads(seen), json.loads(now)
    if before.pop("time_zone", None) != after.pop("time_zone", None) or before.keys() != after.keys():
        return True
    return any(before[label][0] == after[label][0] and before[label] != after[label] for label in after)


def record(part: str, now: Marks) -> None:
    """Remember the marks `part` was refreshed from (once its rows are written)."""
    RollupState.objects.update_or_create(module=part, defaults={"sources_seen": now})

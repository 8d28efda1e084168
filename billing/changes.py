"""Where writes to listeners, subscriptions and payments reach in time, for the revenue
rollups' daily run.

A table's change mark (`analytics.rollups.sources`) says only *that* a table changed.
With no more than that, a refresh would have to recompute a window of weeks to find
where. So every save, delete and bulk write through Django also leaves a
`RevenueChange` row, in the same transaction: the listener it concerns and the first
instant from which the old and the new rows could give the rollups a different answer.
A run reads them, recomputes only what lies after that instant for those listeners
(`billing.rollups`), and deletes the rows it read.

Only the fields the rollups read count: renaming a listener or changing a
subscription's renewal flag leaves no row. A write whose reach is unknown (a bulk
`update` with expressions, or of more rows than `_LISTED_AT_MOST`) leaves a row with
neither a listener nor an instant, and the next run recomputes its window.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models.expressions import Combinable
from django.db.models.signals import post_delete, post_save, pre_save

from spotilytics.db import ChangeTrackedQuerySet

if TYPE_CHECKING:
    from django.db.models import Model

# Above this many rows a bulk write is recorded as one change of unknown reach.
_LISTED_AT_MOST = 10_000
_REVENUE_STATUSES = {"succeeded", "refunded"}
# A bulk update that `bulk_update` makes, whose rows that call already recorded.
_recorded_by_caller: ContextVar[bool] = ContextVar("recorded_by_caller", default=False)

Values = dict[str, Any]


@dataclass(frozen=True)
class Reach:
    """What one write changed for the rollups: the listeners whose subscriber state it
    may change (none for payments) and the first instant it reaches."""

    listeners: frozenset[int]
    since: datetime
    state: bool


def _earliest(*moments: datetime | None) -> datetime:
    return min(moment for moment in moments if moment is not None)


def _listener_reach(old: Values | None, new: Values | None) -> Reach | None:
    # A listener counts from sign-up, in its country: either changing moves it all.
    rows = [row for row in (old, new) if row is not None]
    return Reach(
        frozenset(row["id"] for row in rows), _earliest(*(row["signed_up_at"] for row in rows)), True
    )


def _subscription_reach(old: Values | None, new: Values | None) -> Reach | None:
    rows = [row for row in (old, new) if row is not None]
    listeners = frozenset(row["listener_id"] for row in rows)
    changed = {name for name in old if old[name] != new[name]} if old and new else None
    if changed == {"ended_at"}:
        # A new end changes nothing before the earlier of the two ends.
        return Reach(listeners, _earliest(old["ended_at"], new["ended_at"]), True)
    if changed is not None and changed <= {"ended_at", "trial_ends_at"}:
        # Paid from the trial's end (or the start): nothing moves before the earlier.
        paid_from = [row["trial_ends_at"] or row["started_at"] for row in rows]
        ends = [row["ended_at"] for row in rows] if "ended_at" in changed else []
        return Reach(listeners, _earliest(*paid_from, *ends), True)
    return Reach(listeners, _earliest(*(row["started_at"] for row in rows)), True)


def _payment_reach(old: Values | None, new: Values | None) -> Reach | None:
    rows = [row for row in (old, new) if row is not None]
    changed = {name for name in old if old[name] != new[name]} if old and new else None
    refunded_only = (
        changed is not None
        and changed <= {"status", "refunded_at"}
        and (old["status"] in _REVENUE_STATUSES) == (new["status"] in _REVENUE_STATUSES)
        and (old["status"] == "failed") == (new["status"] == "failed")
    )
    if refunded_only:
        # The attempt's day keeps its counts: only the refund's days move.
        moments = [row["refunded_at"] for row in rows]
    else:
        moments = [moment for row in rows for moment in (row["paid_at"], row["refunded_at"])]
    if all(moment is None for moment in moments):
        return None
    return Reach(frozenset(), _earliest(*moments), False)


# The fields each model's rollups read, and how far a change of them reaches.
_TRACKED = {
    "billing.listener": (("id", "country", "signed_up_at"), _listener_reach),
    "billing.subscription": (
        ("listener_id", "plan_id", "started_at", "trial_ends_at", "ended_at", "price", "billing_period"),
        _subscription_reach,
    ),
    "billing.payment": (
        ("listener_id", "subscription_id", "amount", "method", "status", "paid_at", "refunded_at"),
        _payment_reach,
    ),
}


def _fields(model: type[Model]) -> tuple[str, ...]:
    return _TRACKED[model._meta.label_lower][0]


def _reach(model: type[Model], old: Values | None, new: Values | None) -> Reach | None:
    if old is not None and new is not None and old == new:
        return None
    return _TRACKED[model._meta.label_lower][1](old, new)


def _values(instance: Model) -> Values:
    return {name: getattr(instance, name) for name in _fields(type(instance))}


class RevenueTracked(models.Model):
    """Keeps the values of the rollups' fields as loaded, so a save knows what it changed."""

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        if all(name in instance.__dict__ for name in _fields(cls)):
            instance._revenue_loaded = _values(instance)
        return instance


def _record(reaches: Iterable[Reach | None], *, using: str) -> None:
    from billing.models import RevenueChange  # the models import this module

    rows = [
        RevenueChange(listener_id=listener_id, since=reach.since, state=reach.state)
        for reach in reaches
        if reach is not None
        for listener_id in (reach.listeners or [None])
    ]
    if rows:
        RevenueChange.objects.using(using).bulk_create(rows)


def _record_unknown(*, using: str) -> None:
    from billing.models import RevenueChange

    RevenueChange.objects.using(using).create(listener_id=None, since=None, state=True)


def _before_save(sender: type[Model], instance: Model, raw: bool, using: str, **kwargs) -> None:
    if instance.pk is None or hasattr(instance, "_revenue_loaded"):
        return
    # Saved without being loaded (built with its key, or loaded with deferred fields):
    # read the row as it is, if there is one.
    instance._revenue_loaded = (
        sender._base_manager.using(using).filter(pk=instance.pk).values(*_fields(sender)).first()
    )


def _after_save(sender: type[Model], instance: Model, created: bool, using: str, **kwargs) -> None:
    new = _values(instance)
    old = None if created else getattr(instance, "_revenue_loaded", None)
    _record([_reach(sender, old, new)], using=using)
    instance._revenue_loaded = new


def _after_delete(sender: type[Model], instance: Model, using: str, **kwargs) -> None:
    _record(
        [_reach(sender, getattr(instance, "_revenue_loaded", None) or _values(instance), None)], using=using
    )


def connect() -> None:
    """Record every save and delete of the three models (`AppConfig.ready`)."""
    from billing.models import Listener, Payment, Subscription

    for model in (Listener, Subscription, Payment):
        label = model._meta.label_lower
        pre_save.connect(_before_save, sender=model, dispatch_uid=f"revenue.{label}.before")
        post_save.connect(_after_save, sender=model, dispatch_uid=f"revenue.{label}.save")
        post_delete.connect(_after_delete, sender=model, dispatch_uid=f"revenue.{label}.delete")


def _plain(value: Any) -> Any:
    """`value` as the column holds it, or `_UNKNOWN` for an expression."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Combinable) or hasattr(value, "resolve_expression"):
        return _UNKNOWN
    return value


_UNKNOWN = object()


class RevenueQuerySet(ChangeTrackedQuerySet):
    """Bulk writes of the three models, which send no signals, record their reach too:
    an `update` reads the rows it is about to change."""

    def update(self, **kwargs) -> int:
        if _recorded_by_caller.get():
            return super().update(**kwargs)
        names = {self.model._meta.get_field(name).attname: value for name, value in kwargs.items()}
        fields = _fields(self.model)
        if names.keys().isdisjoint(fields):
            return super().update(**kwargs)
        changes = {name: _plain(value) for name, value in names.items() if name in fields}
        if _UNKNOWN in changes.values():
            _record_unknown(using=self.db)
            return super().update(**kwargs)
        olds = list(self.values(*fields)[: _LISTED_AT_MOST + 1])
        if len(olds) > _LISTED_AT_MOST:
            _record_unknown(using=self.db)
        else:
            _record((_reach(self.model, old, old | changes) for old in olds), using=self.db)
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs) -> int:
        objs = list(objs)
        tracked = _fields(self.model)
        if len(objs) > _LISTED_AT_MOST:
            _record_unknown(using=self.db)
        elif objs:
            by_pk = {
                row["pk"]: row
                for row in self.model._base_manager.using(self.db)
                .filter(pk__in=[obj.pk for obj in objs])
                .values("pk", *tracked)
            }
            names = [self.model._meta.get_field(name).attname for name in fields]
            reaches = []
            for obj in objs:
                old = by_pk.get(obj.pk)
                if old is None:
                    continue
                old = {name: old[name] for name in tracked}
                reaches.append(
                    _reach(self.model, old, old | {n: getattr(obj, n) for n in names if n in tracked})
                )
            _record(reaches, using=self.db)
        token = _recorded_by_caller.set(True)
        try:
            return super().bulk_update(objs, fields, *args, **kwargs)
        finally:
            _recorded_by_caller.reset(token)

    def bulk_create(self, objs, *args, **kwargs) -> list:
        created = super().bulk_create(objs, *args, **kwargs)
        if len(created) > _LISTED_AT_MOST:
            _record_unknown(using=self.db)
        else:
            _record((_reach(self.model, None, _values(obj)) for obj in created), using=self.db)
        return created


def pending() -> list[tuple[int, int | None, datetime | None, bool]]:
    """The changes not yet read by a revenue refresh: (id, listener, since, state)."""
    from billing.models import RevenueChange

    return list(RevenueChange.objects.order_by("id").values_list("id", "listener_id", "since", "state"))

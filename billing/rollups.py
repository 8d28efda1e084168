"""Revenue rollups: pre-aggregated subscription and payment tables the KPI pages read.

`refresh` recomputes them from `Subscription` and `Payment` (both change at any time:
refunds, cancellations, plan changes), so a re-run over the same data writes the same
rows. Tables (models in `billing.models`):

- `SubscriberDay`: per local day, country and plan, the listeners, paying listeners and
  12 x MRR as of the day's first instant. Each listener counts once, under the plan of
  its primary active subscription (paid before unpaid, then the larger amount, the later
  start, the higher id); listeners without an active subscription have no plan.
- `PaymentDay` / `PaymentMonth`: attempts, successes, failures and gross by the day of
  `paid_at`, refunds by the day of `refunded_at`, per country, plan and method.
- `MrrMonth`: each month's MRR movements per country, from every listener's MRR at the
  first instant of the month and of the next month (of the day after `today` for the
  month in progress).
- `TrialMonth`: trials by start month, country and plan; only trials ended by the end
  of `today` count.
- `SubscriberRegionDay`, `PaymentRegionDay`, `PaymentRegionMonth`: the same summed per
  region, written in the same transactions; series without a country filter read them.
- `ListenerRevenueState`: each counted listener's part of the last stored day's
  `SubscriberDay` groups, for the next nightly run to take out of them when the
  listener's rows changed.

Recurring amounts are annualized (12 x MRR) so they stay exact two-decimal numbers; the
KPIs divide by 12 once, after summing. The sweep over days keeps every listener's state
in memory and recomputes only the listeners whose subscriptions or sign-up changed
between two day starts, so a full refresh reads each subscription once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import batched
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    Max,
    Min,
    Model,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Round, TruncDate

from analytics.kpis import _time
from analytics.models import RollupState
from analytics.rollups import sources
from analytics.rollups._sql import (
    EpochMicroseconds,
    among,
    country_code,
    country_number,
    epoch_us,
    fetchall,
    insert_rows,
    int_columns,
    to_date,
)
from analytics.rollups._sql import d as _d
from billing import changes
from billing.models import (
    BillingPeriod,
    Listener,
    ListenerRevenueState,
    MrrMonth,
    Payment,
    PaymentDay,
    PaymentMonth,
    PaymentRegionDay,
    PaymentRegionMonth,
    PaymentStatus,
    RevenueChange,
    SubscriberDay,
    SubscriberRegionDay,
    Subscription,
    TrialMonth,
)
from billing.regions import COUNTRY_REGION

Progress = Callable[[str, int, int], None]
SOURCES_PART = "revenue"  # its `RollupState` row: the source marks it was refreshed from
_FactKey = tuple[str, int, str]  # (country, plan id, method)
_Facts = dict[str, Any]  # attempts, succeeded, failed (int); gross, refunds (Decimal)

_REVENUE_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
_TABLES = {
    "subscriber_days": SubscriberDay,
    "subscriber_region_days": SubscriberRegionDay,
    "payment_days": PaymentDay,
    "payment_region_days": PaymentRegionDay,
    "payment_months": PaymentMonth,
    "payment_region_months": PaymentRegionMonth,
    "mrr_months": MrrMonth,
    "trial_months": TrialMonth,
}
_ZERO = Decimal("0.00")
_FACT_COLUMNS = ("attempts", "succeeded", "failed", "gross", "refunds")

# (start, end, paid_from, arr_cents, id, plan_id); instants in epoch microseconds,
# `end` _NEVER while open, `paid_from` _NEVER when the subscription is never paid.
_Sub = tuple[int, int, int, int, int, int]
_NEVER = 2**62
_NO_PLAN = -1
# A counted listener's part of its group's state: (country, plan), signed up (0/1),
# paying (0/1), 12 x MRR in cents.
_Part = tuple[tuple[str, int | None], int, int, int]


def refresh(
    *, since: date | None = None, full: bool = False, today: date, progress: Progress | None = None
) -> dict[str, int]:
    """Recompute the revenue rollups from the source tables; returns rows written per table.

    `full` recomputes everything; `since` recomputes from the first day of its month;
    otherwise the window starts at the first day of the month before `today`'s month
    (subscriptions and refunds are often edited after the fact), or earlier when the
    last refresh is older than that. One transaction per day and per month, so pages
    keep reading consistent days while a refresh runs.

    Without `full` or `since`, a refresh that knows what changed since the last one
    (nothing, or changes made through Django, each with its listener and reach:
    `billing.changes`) builds on the stored rows (`_advance`): a nightly run writes the
    new days, the open months, and the days and months of the changes. A change that
    reaches further back than the last stored day's day before widens the window to its
    month; one of unknown reach (rows added or edited in SQL) leaves the window as it is,
    hence `since` after such edits.
    """
    written = dict.fromkeys(_TABLES, 0)
    # The changes first: one recorded meanwhile is then seen by the marks and its rows
    # are read below, and its record stays for the next refresh to apply again.
    pending = _Pending.read()
    read_from = sources.marks(Listener, Subscription, Payment)
    first = _first_data_day()
    last_state_day = today + _time.ONE_DAY
    if first is None:
        with transaction.atomic():
            for model in (*_TABLES.values(), ListenerRevenueState):
                model.objects.all().delete()
            RollupState.objects.filter(module=_PARTS_STATE).delete()
        _done(read_from, pending)
        return written

    watermark = SubscriberDay.objects.aggregate(last=Max("day"))["last"]
    # Every row comes from these tables and `today`: as the last refresh left them,
    # they would give the same rows again, and a later `today` only adds to them. Changed
    # through Django, they say which listeners and from when (`billing.changes`).
    forced = full or since is not None
    if not sources.unchanged(SOURCES_PART, read_from) and sources.grown_unmarked(SOURCES_PART, read_from):
        pending = _Pending.unknown(pending.ids)
    if not forced and pending.known and watermark is not None and watermark <= last_state_day:
        if watermark < last_state_day or pending.ids:
            advanced = _advance(stored_through=watermark, today=today, pending=pending, progress=progress)
        else:
            advanced = {}
        if advanced is not None:
            written.update(advanced)
            _done(read_from, pending)
            return written
    if full or watermark is None:
        begin = first
    elif since is not None:
        begin = since
    else:
        begin = min(_time.add_months(_time.month_start(today), -1), watermark)
        if pending.since is not None:
            begin = min(begin, _time.local_date(pending.since))
    begin = _time.month_start(max(begin, first))
    begin = min(begin, _time.month_start(today))
    last_payment_day = max(today, _last_payment_day() or today)

    written["trial_months"] = _refresh_trials(begin=begin, today=today, progress=progress)
    days_written = _refresh_days(
        begin=begin,
        last_state_day=last_state_day,
        last_payment_day=last_payment_day,
        today=today,
        progress=progress,
    )
    for key, count in days_written.items():
        written[key] += count

    with transaction.atomic():
        # Rows past the new horizon came from a refresh run with a later `today`.
        for model in (SubscriberDay, SubscriberRegionDay):
            model.objects.filter(day__gt=last_state_day).delete()
        for model in (PaymentDay, PaymentRegionDay):
            model.objects.filter(day__gt=last_payment_day).delete()
        for model in (PaymentMonth, PaymentRegionMonth):
            model.objects.filter(month__gt=_time.month_start(last_payment_day)).delete()
        for model in (MrrMonth, TrialMonth):
            model.objects.filter(month__gt=_time.month_start(today)).delete()
        if full:
            for model in _TABLES.values():
                period = "day" if hasattr(model, "day") else "month"
                model.objects.filter(**{f"{period}__lt": begin}).delete()
    _done(read_from, pending)
    return written


@dataclass(frozen=True)
class _Pending:
    """The changes recorded since the last refresh (`billing.changes`), summed up."""

    ids: tuple[int, ...]  # their rows, deleted once read
    known: bool  # every change says whom and from when
    listeners: frozenset[int]  # whose subscriber state may have changed
    state_since: datetime | None  # the first instant those reach
    since: datetime | None  # the first instant any reaches, payments included

    @classmethod
    def read(cls) -> _Pending:
        rows = changes.pending()
        known = all(since is not None for _, _, since, _ in rows)
        if not known:
            return cls.unknown(tuple(row[0] for row in rows))
        state = [row for row in rows if row[3]]
        return cls(
            ids=tuple(row[0] for row in rows),
            known=True,
            listeners=frozenset(row[1] for row in state if row[1] is not None),
            state_since=min((row[2] for row in state), default=None),
            since=min((row[2] for row in rows), default=None),
        )

    @classmethod
    def unknown(cls, ids: tuple[int, ...]) -> _Pending:
        return cls(ids=ids, known=False, listeners=frozenset(), state_since=None, since=None)


def _done(read_from: sources.Marks, pending: _Pending) -> None:
    """Remember what this refresh read: the tables' marks and the changes it used up."""
    sources.record(SOURCES_PART, read_from)
    for rows in _with_ids(RevenueChange.objects, "id", pending.ids):
        rows.delete()


def _advance(
    *, stored_through: date, today: date, pending: _Pending, progress: Progress | None
) -> dict[str, int] | None:
    """What a later `today`, and the changes recorded since the last refresh, change in
    rows whose subscriber state reaches `stored_through` (the day after its `today`):
    that day's state, the state of the days after it, the MRR movements of the months
    it left open and of those begun since, the payments of the days the changes reach,
    and the trials ended since. None (nothing written) when a change reaches further
    back than `stored_through`'s day before: the window is recomputed instead.

    Built on the stored rows, moved by the listeners with a recorded change or with a
    sign-up, a start, an end or a first paid instant since (a few thousand a day at 10M
    events). When nothing changed but the stored rows do not line up (no state, or a
    month row as of another day), by sweeping every subscription to the instants
    concerned. All in one transaction: a run stopped halfway leaves the rows as they
    were, for the next one to build on."""
    day_before = _time.day_start(stored_through - _time.ONE_DAY)
    if pending.state_since is not None and pending.state_since <= day_before:
        return None
    with transaction.atomic():
        written = _advance_from_stored(stored_through=stored_through, today=today, changed=pending.listeners)
        if written is None:
            if pending.ids:
                return None
            written = _advance_by_sweep(stored_through=stored_through, today=today, progress=progress)
        if pending.since is not None:
            for table, count in _refresh_payments(first=_time.local_date(pending.since), today=today).items():
                written[table] = written.get(table, 0) + count
        trials_from = stored_through
        if pending.state_since is not None:
            trials_from = min(trials_from, _time.local_date(pending.state_since))
        written["trial_months"] = _refresh_trials(
            begin=_time.month_start(trials_from), today=today, progress=progress
        )
    return written


def _advance_from_stored(
    *, stored_through: date, today: date, changed: frozenset[int]
) -> dict[str, int] | None:
    last_state_day = today + _time.ONE_DAY
    first_open = _time.month_start(stored_through)
    # The base: the state of `stored_through`, and the MRR month open at it (as of it),
    # or, when it is a month's first day, the month before it as it closed there.
    groups: dict[tuple[str, int | None], list[int]] = defaultdict(lambda: [0, 0, 0])
    for country, plan_id, listeners, paying, arr in SubscriberDay.objects.filter(
        day=stored_through
    ).values_list("country", "plan_id", "listeners", "paying", "arr"):
        groups[(country, plan_id)] = [listeners, paying, int(arr * 100)]
    if not groups:
        return None
    based_on = first_open if stored_through.day != 1 else _time.add_months(first_open, -1)
    # The month row must be as of the stored state's day (a state day left with no rows
    # would make the last day with rows an earlier one).
    if set(MrrMonth.objects.filter(month=based_on).values_list("as_of", flat=True)) - {stored_through}:
        return None
    # The changed listeners' parts in those rows, as they were stored.
    kept = _kept_parts_day() == stored_through
    if changed and not kept:
        return None
    stored_month = {
        row[0]: [*(int(value * 100) for value in row[1:8]), *row[8:]]
        for row in MrrMonth.objects.filter(month=based_on).values_list("country", *_MRR_COLUMNS)
    }

    # The listeners whose state moved since: a recorded change, or a sign-up, a start,
    # an end or a first paid instant after the stored state's instant.
    since, until = _time.day_start(stored_through), _time.day_start(last_state_day)
    moved = set(changed)
    moved.update(
        Listener.objects.filter(signed_up_at__gt=since, signed_up_at__lte=until).values_list("id", flat=True)
    )
    # A first paid instant is the trial's end or the start: each bound read off its own
    # index (a few unpaid trials too many cost nothing).
    moved.update(
        Subscription.objects.filter(
            Q(started_at__gt=since, started_at__lte=until)
            | Q(ended_at__gt=since, ended_at__lte=until)
            | Q(trial_ends_at__gt=since, trial_ends_at__lte=until)
        ).values_list("listener_id", flat=True)
    )
    listeners: dict[int, tuple[str, int]] = {}
    subs: dict[int, list[_Sub]] = defaultdict(list)
    for rows in _with_ids(Listener.objects, "id", moved):
        for listener_id, country, signed_up_at in rows.values_list("id", "country", "signed_up_at"):
            listeners[listener_id] = (country, epoch_us(signed_up_at))
    for rows in _with_ids(Subscription.objects, "listener_id", moved):
        for listener_id, *sub in _read_subs(rows).tolist():
            subs[listener_id].append(tuple(sub))

    def contribution(listener_id: int, at: int) -> _Part | None:
        if listener_id not in listeners:  # deleted
            return None
        country, signed_up = listeners[listener_id]
        plan_id, arr = _state(subs.get(listener_id, ()), at)
        if signed_up > at and not arr:
            return None
        return (country, plan_id), 1 if signed_up <= at else 0, 1 if arr else 0, arr

    def move(old: _Part | None, new: _Part | None) -> None:
        for part, sign in ((old, -1), (new, 1)):
            if part is not None:
                group = groups[part[0]]
                for n, value in enumerate(part[1:]):
                    group[n] += sign * value

    written: dict[str, int] = defaultdict(int)
    counted = {listener_id: contribution(listener_id, epoch_us(since)) for listener_id in moved}
    stored_parts = _kept_parts(changed) if kept else counted
    # A change since the stored state's instant moves that day's groups too.
    for listener_id in changed:
        move(stored_parts.get(listener_id), counted[listener_id])
    if changed:
        stored_day = _stored_days(stored_through, stored_through + _time.ONE_DAY)
        for table, count in _write_day(stored_through, groups, None, stored_day).items():
            written[table] += count
        stored_month = _moved_month(
            stored_month,
            month=based_on,
            moves={
                listener_id: (stored_parts.get(listener_id), counted[listener_id])
                for listener_id in changed
                if stored_parts.get(listener_id) != counted[listener_id]
            },
            subs=subs,
        )
        if based_on != first_open:
            written["mrr_months"] += _replace_mrr_month(based_on, stored_through, stored_month)
    if based_on != first_open:
        stored_month = _opened(stored_month)

    for day in _time.days(stored_through + _time.ONE_DAY, last_state_day + _time.ONE_DAY):
        at = epoch_us(_time.day_start(day))
        for listener_id, old in counted.items():
            new = contribution(listener_id, at)
            if old != new:
                move(old, new)
                counted[listener_id] = new
        for table, count in _write_day(day, groups, None, {}).items():
            written[table] += count

    # Each open month: its listeners' part moves from their 12 x MRR at the stored
    # state's instant (or the month's start) to that at the month's end, or at the day
    # after `today` for the month in progress.
    month, month_from = first_open, epoch_us(since)
    while month < last_state_day:
        start = epoch_us(_time.day_start(month))
        as_of = min(_time.add_months(month, 1), last_state_day)
        end = epoch_us(_time.day_start(as_of))
        # (12 x MRR at the month's start, as the row has it, as it is now) of the moved.
        arrs = {
            listener_id: tuple(_state(subs.get(listener_id, ()), at)[1] for at in (start, month_from, end))
            for listener_id in listeners
        }
        arrs = {listener_id: arr for listener_id, arr in arrs.items() if arr[1] != arr[2]}
        returning = _paid_before([i for i, arr in arrs.items() if arr[0] == 0], _time.day_start(month))
        totals = defaultdict(lambda: [0] * 10, {country: list(row) for country, row in stored_month.items()})
        for listener_id, (at_start, before, now) in arrs.items():
            row = totals[listeners[listener_id][0]]
            _add_movement(row, at_start, before, returning=listener_id in returning, sign=-1)
            _add_movement(row, at_start, now, returning=listener_id in returning)
        written["mrr_months"] += _replace_mrr_month(month, as_of, totals)
        stored_month, month, month_from = _opened(totals), as_of, end

    if kept:
        _keep_parts(counted, day=last_state_day)
    return dict(written)


def _moved_month(
    stored: dict[str, list[int]],
    *,
    month: date,
    moves: dict[int, tuple[_Part | None, _Part | None]],
    subs: dict[int, list[_Sub]],
) -> dict[str, list[int]]:
    """An MRR month row as of the stored state's instant, with each listener of `moves`
    moved from its stored part at that instant to its part now: its 12 x MRR at the
    month's start is as it was (a change reaches no further back than the day before),
    its end and country may differ."""
    totals = defaultdict(lambda: [0] * 10, {country: list(row) for country, row in stored.items()})
    start = epoch_us(_time.day_start(month))
    at_start = {listener_id: _state(subs.get(listener_id, ()), start)[1] for listener_id in moves}
    returning = _paid_before([i for i, arr in at_start.items() if arr == 0], _time.day_start(month))
    for listener_id, parts in moves.items():
        for part, sign in zip(parts, (-1, 1), strict=True):
            if part is not None:
                (country, _), *_, arr = part
                _add_movement(
                    totals[country], at_start[listener_id], arr, returning=listener_id in returning, sign=sign
                )
    return dict(totals)


# Each counted listener's part of the last stored day's state, for the next nightly run.
_PARTS_STATE = "revenue-listeners"  # its `RollupState` row: `last_day` is the day they stand for


def _kept_parts_day() -> date | None:
    return RollupState.objects.filter(module=_PARTS_STATE).values_list("last_day", flat=True).first()


def _kept_parts(listener_ids: Iterable[int]) -> dict[int, _Part]:
    parts = {}
    for rows in _with_ids(ListenerRevenueState.objects, "listener_id", listener_ids):
        for listener_id, country, plan_id, signed_up, arr in rows.values_list(
            "listener_id", "country", "plan_id", "signed_up", "arr_cents"
        ):
            parts[listener_id] = ((country, plan_id), 1 if signed_up else 0, 1 if arr else 0, arr)
    return parts


def _keep_every_part(columns: tuple[np.ndarray, ...], *, day: date) -> None:
    """Store the parts of a sweep (`_Sweep.part_columns`) as every listener's part on
    `day`, writing only the rows that differ from those stored."""
    never = Value(_NO_PLAN, output_field=BigIntegerField())
    signed = Case(When(signed_up=True, then=1), default=0, output_field=BigIntegerField())
    stored = np.stack(
        int_columns(
            ListenerRevenueState.objects.all(),
            F("listener_id"),
            country_number("country"),
            Coalesce(F("plan_id"), never),
            signed,
            F("arr_cents"),
        ),
        axis=1,
    )
    fresh = np.stack(columns, axis=1)
    stored = stored[np.argsort(stored[:, 0])]
    # Rows of `fresh` that are stored as they are, and stored rows still there.
    at = np.minimum(np.searchsorted(stored[:, 0], fresh[:, 0]), max(len(stored) - 1, 0))
    same = (stored[at] == fresh).all(axis=1) if len(stored) else np.zeros(len(fresh), dtype=bool)
    gone = stored[~np.isin(stored[:, 0], fresh[:, 0]), 0]
    changed = fresh[~same]
    for rows in _with_ids(
        ListenerRevenueState.objects, "listener_id", [*gone.tolist(), *changed[:, 0].tolist()]
    ):
        rows.delete()
    insert_rows(
        ListenerRevenueState,
        ("listener_id", "country", "plan_id", "signed_up", "arr_cents"),
        [
            (
                listener_id,
                country_code(country),
                None if plan_id == _NO_PLAN else plan_id,
                bool(signed_up),
                arr,
            )
            for listener_id, country, plan_id, signed_up, arr in changed.tolist()
        ],
    )
    RollupState.objects.update_or_create(module=_PARTS_STATE, defaults={"last_day": day})


def _keep_parts(parts: dict[int, _Part | None], *, day: date) -> None:
    """Store `parts` as the given listeners' parts on `day`, in the caller's transaction."""
    ids = sorted(parts)
    for rows in _with_ids(ListenerRevenueState.objects, "listener_id", ids):
        rows.delete()
    insert_rows(
        ListenerRevenueState,
        ("listener_id", "country", "plan_id", "signed_up", "arr_cents"),
        [
            (listener_id, part[0][0], part[0][1], bool(part[1]), part[3])
            for listener_id in ids
            if (part := parts.get(listener_id)) is not None
        ],
    )
    RollupState.objects.update_or_create(module=_PARTS_STATE, defaults={"last_day": day})


def _opened(closed: dict[str, list[int]]) -> dict[str, list[int]]:
    """The MRR month rows of a month as its first instant gives them (nothing moved
    yet), from the month before's rows as that month closed."""
    return {country: [row[6], 0, 0, 0, 0, 0, row[6], row[9], 0, row[9]] for country, row in closed.items()}


def _advance_by_sweep(*, stored_through: date, today: date, progress: Progress | None) -> dict[str, int]:
    last_state_day = today + _time.ONE_DAY
    new_days = _time.days(stored_through + _time.ONE_DAY, last_state_day + _time.ONE_DAY)
    # The month in progress at the last refresh is open unless it ended there.
    open_months = _time.months(_time.month_start(stored_through), last_state_day)
    instants = sorted({*open_months, *new_days})
    boundaries = [_time.day_start(day) for day in instants]
    sweep = _Sweep(begin_instant=boundaries[0], boundaries=boundaries)
    written: dict[str, int] = defaultdict(int)
    snapshot: tuple[date, dict[int, int]] | None = None
    for index, day in enumerate(instants):
        sweep.advance(index)
        with transaction.atomic():
            if snapshot is not None and (day.day == 1 or day == last_state_day):
                month, start = snapshot
                written["mrr_months"] += _write_mrr_month(
                    month=month, as_of=day, start=start, end=sweep.arr_of, country_of=sweep.country_of
                )
                snapshot = None
            if day.day == 1 and day <= today:
                snapshot = (day, dict(sweep.arr_of))
            if day > stored_through:
                for table, count in _write_day(day, sweep.groups, None, {}).items():
                    written[table] += count
        if progress:
            progress("billing: days", index + 1, len(instants))
    _keep_every_part(sweep.part_columns(), day=last_state_day)
    return dict(written)


def _first_data_day() -> date | None:
    instants = [
        Listener.objects.aggregate(first=Min("signed_up_at"))["first"],
        Subscription.objects.aggregate(first=Min("started_at"))["first"],
        Payment.objects.aggregate(first=Min("paid_at"))["first"],
    ]
    found = [moment for moment in instants if moment is not None]
    return _time.local_date(min(found)) if found else None


def _last_payment_day() -> date | None:
    row = Payment.objects.aggregate(paid=Max("paid_at"), refunded=Max("refunded_at"))
    found = [moment for moment in row.values() if moment is not None]
    return _time.local_date(max(found)) if found else None


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


# Days: subscriber state, payments, and the monthly tables closed as the days pass.


def _refresh_days(
    *, begin: date, last_state_day: date, last_payment_day: date, today: date, progress: Progress | None
) -> dict[str, int]:
    written: dict[str, int] = defaultdict(int)
    last_day = max(last_state_day, last_payment_day)
    # The listeners' kept parts stand for the last stored day until this rewrites it: a
    # run stopped halfway leaves none, for the next run not to move the day by them.
    RollupState.objects.filter(module=_PARTS_STATE).delete()
    days = _time.days(begin, last_day + _time.ONE_DAY)
    state_days = [day for day in days if day <= last_state_day]
    sweep = _Sweep(begin_instant=_time.day_start(begin), boundaries=[_time.day_start(d) for d in state_days])

    month_snapshot: dict[int, int] | None = None
    month_begin: date | None = None
    facts: dict[date, dict[_FactKey, _Facts]] = {}
    stored: dict[str, dict[date, set[tuple]]] = {}
    for index, day in enumerate(days):
        if index == 0 or day.day == 1:
            if index > 0:
                with transaction.atomic():
                    for table, count in _write_payment_month(_time.add_months(day, -1), facts).items():
                        written[table] += count
            # One read per month; the days are still written one transaction each.
            month_end = min(_time.month_end(day), last_day + _time.ONE_DAY)
            facts = _payment_facts(day, month_end, sweep)
            stored = _stored_days(day, month_end)
        if index < len(state_days):
            sweep.advance(index)
            closes_month = month_snapshot is not None and (day.day == 1 or day == last_state_day)
            if closes_month:
                assert month_begin is not None
                with transaction.atomic():
                    written["mrr_months"] += _write_mrr_month(
                        month=month_begin,
                        as_of=day,
                        start=month_snapshot,
                        end=sweep.arr_of,
                        country_of=sweep.country_of,
                    )
                month_snapshot = None
            if day.day == 1 and day <= today:
                month_snapshot, month_begin = dict(sweep.arr_of), day
        with transaction.atomic():
            state = sweep.groups if index < len(state_days) else None
            for table, count in _write_day(day, state, facts.get(day, {}), stored).items():
                written[table] += count
        if progress:
            progress("billing: days", index + 1, len(days))
    with transaction.atomic():
        for table, count in _write_payment_month(_time.month_start(last_day), facts).items():
            written[table] += count
        _keep_every_part(sweep.part_columns(), day=last_state_day)
    return dict(written)


def _refresh_payments(*, first: date, today: date) -> dict[str, int]:
    """The payment rows of the days from `first` on, and of their months: what changes
    to payments (or to the subscriptions and listeners they are labelled by) since
    `first` change."""
    stored_last = PaymentDay.objects.aggregate(last=Max("day"))["last"]
    last = max(today, _last_payment_day() or today, stored_last or today)
    labels = _Labels()
    written: dict[str, int] = defaultdict(int)
    for month in _time.months(_time.month_start(first), last + _time.ONE_DAY):
        lo, hi = max(first, month), min(_time.add_months(month, 1), last + _time.ONE_DAY)
        facts = _payment_facts(lo, hi, labels)
        stored = _stored_days(lo, hi)
        for day in _time.days(lo, hi):
            for table, count in _write_day(day, None, facts.get(day, {}), stored).items():
                written[table] += count
        # The month's rows: its days summed, those kept and those just written.
        totals = {
            (country, plan_id, method): dict(zip(_FACT_COLUMNS, values, strict=True))
            for country, plan_id, method, *values in PaymentDay.objects.filter(
                day__gte=month, day__lt=_time.add_months(month, 1)
            )
            .values_list("country", "plan_id", "method")
            .annotate(*(Sum(column) for column in _FACT_COLUMNS))
            .order_by()
        }
        for table, count in _write_payment_month(month, {month: totals}).items():
            written[table] += count
    return dict(written)


# The day tables and the columns of a day's row besides its day.
_DAY_TABLES: dict[str, tuple[type[Model], tuple[str, ...]]] = {
    "subscriber_days": (SubscriberDay, ("country", "plan_id", "listeners", "paying", "arr")),
    "subscriber_region_days": (SubscriberRegionDay, ("region", "plan_id", "listeners", "paying", "arr")),
    "payment_days": (PaymentDay, ("country", "plan_id", "method", *_FACT_COLUMNS)),
    "payment_region_days": (PaymentRegionDay, ("region", "plan_id", *_FACT_COLUMNS)),
}


def _stored_days(lo: date, hi: date) -> dict[str, dict[date, set[tuple]]]:
    """The stored rows of every day table for the days `[lo, hi)`, per table and day,
    without their day."""
    stored: dict[str, dict[date, set[tuple]]] = {}
    for key, (model, columns) in _DAY_TABLES.items():
        by_day: dict[date, set[tuple]] = defaultdict(set)
        for day, *values in model.objects.filter(day__gte=lo, day__lt=hi).values_list("day", *columns):
            by_day[day].add(tuple(values))
        stored[key] = by_day
    return stored


def _write_day(
    day: date,
    groups: dict[tuple[str, int | None], list[int]] | None,
    facts: dict[_FactKey, _Facts] | None,
    stored: dict[str, dict[date, set[tuple]]],
) -> dict[str, int]:
    """Bring one day's rows up to date: subscriber state (when `groups` is given) and
    payments (when `facts` is). A table whose stored rows of the day are already those
    is not written: a daily run rewrites only the days that changed of the month or more
    it recomputes."""
    fresh: dict[str, list[tuple]] = {}
    if groups is not None:
        rows, regional = [], defaultdict(lambda: [0, 0, 0])
        for (country, plan_id), (listeners, paying, arr) in groups.items():
            if listeners or paying:
                rows.append((country, plan_id, listeners, paying, _money(arr)))
                total = regional[(_region(country), plan_id)]
                total[0] += listeners
                total[1] += paying
                total[2] += arr
        fresh["subscriber_days"] = rows
        fresh["subscriber_region_days"] = [
            (region, plan_id, listeners, paying, _money(arr))
            for (region, plan_id), (listeners, paying, arr) in regional.items()
        ]
    if facts is not None:
        fresh["payment_days"] = [(*key, *_fact_values(values)) for key, values in facts.items()]
        fresh["payment_region_days"] = [
            (*key, *_fact_values(values)) for key, values in _by_region(facts, methods=False).items()
        ]
    written = {}
    at = _d(day)
    for key, rows in fresh.items():
        if set(rows) == stored.get(key, {}).get(day, set()):
            written[key] = 0
            continue
        model, columns = _DAY_TABLES[key]
        model.objects.filter(day=day).delete()
        written[key] = insert_rows(model, ("day", *columns), [(at, *row) for row in rows])
    return written


def _region(country: str) -> str:
    return COUNTRY_REGION.get(country, "")


def _by_region(facts: dict[_FactKey, _Facts], *, methods: bool = True) -> dict[tuple, _Facts]:
    """Payment facts summed over the countries of each region (and over the methods
    unless `methods`)."""
    totals: dict[tuple, _Facts] = defaultdict(_empty_facts)
    for (country, plan_id, method), values in facts.items():
        total = totals[(_region(country), plan_id, method) if methods else (_region(country), plan_id)]
        for name, value in values.items():
            total[name] += value
    return dict(totals)


class _Labels:
    """The country of listeners and the plan of subscriptions, read as asked for."""

    def __init__(self) -> None:
        self.country_of: dict[int, str] = {}
        self._plan_of: dict[int, int] = {}

    def countries_of(self, listener_ids: set[int]) -> dict[int, str]:
        """The country of each listener, read for those not known yet (a sweep knows the
        listeners of its read; some may have signed up since, with payments to label)."""
        return self._with_missing(self.country_of, listener_ids, Listener.objects, "country")

    def plans_of(self, subscription_ids: set[int]) -> dict[int, int]:
        """The plan of each subscription, read for those not known yet (a sweep leaves
        out those over before its first day, or started since its read)."""
        return self._with_missing(self._plan_of, subscription_ids, Subscription.objects, "plan_id")

    @staticmethod
    def _with_missing(known: dict[int, Any], ids: set[int], rows: QuerySet, column: str) -> dict[int, Any]:
        for some in _with_ids(rows, "id", ids - known.keys()):
            known.update(some.values_list("id", column))
        return known


class _Sweep(_Labels):
    """Every listener's subscription state at successive day starts.

    A listener's state at instant t (its group and 12 x MRR) depends only on its
    subscriptions and sign-up. The state at the first day start is computed for every
    listener at once with numpy; between two day starts only the listeners with an event
    (sign-up, start, trial end, end) in between are recomputed, one by one.
    """

    def __init__(self, *, begin_instant: datetime, boundaries: list[datetime]) -> None:
        self.boundaries = [epoch_us(moment) for moment in boundaries]
        self.groups: dict[tuple[str, int | None], list[int]] = defaultdict(lambda: [0, 0, 0])
        self.arr_of: dict[int, int] = {}  # listener -> 12 x MRR in cents, paying listeners only
        self._subs: dict[int, list[_Sub]] = defaultdict(list)
        self._contribution: dict[int, tuple[tuple[str, int | None], int, int, int]] = {}
        self._changed: dict[int, set[int]] = defaultdict(set)
        self._changed_before: set[int] = set()
        self._first_state: tuple[list[str], list[int], list[bool], list[int]] = ([], [], [], [])
        # Every listener (by id) and its country number; plan, signed up and 12 x MRR at
        # the first boundary (`_start_at`).
        self._first_columns: tuple[np.ndarray, ...] = tuple(np.zeros(0, dtype=np.int64) for _ in range(5))
        self._position: dict[int, int] = {}

        # Integer columns, read without a Python object per value.
        ids, country_numbers, signups = int_columns(
            Listener.objects.all(), F("id"), country_number("country"), EpochMicroseconds("signed_up_at")
        )
        by_id = np.argsort(ids)
        ids, country_numbers, signups = ids[by_id], country_numbers[by_id], signups[by_id]
        numbers, country_index = np.unique(country_numbers, return_inverse=True)
        codes = [country_code(number) for number in numbers.tolist()]
        countries = [codes[n] for n in country_index.tolist()]
        self.country_of: dict[int, str] = dict(zip(ids.tolist(), countries, strict=True))
        self._signup: dict[int, int] = dict(zip(ids.tolist(), signups.tolist(), strict=True))

        # Subscriptions over before the first day start cannot change any state from it on.
        subs = _read_subs(
            Subscription.objects.filter(Q(ended_at__isnull=True) | Q(ended_at__gt=begin_instant))
        )
        # A listener who signed up since the read above is refreshed on the next run.
        subs = subs[np.isin(subs[:, 0], ids)]
        self._plan_of: dict[int, int] = dict(zip(subs[:, 5].tolist(), subs[:, 6].tolist(), strict=True))
        if not self.boundaries:
            return

        first = self.boundaries[0]
        plans, signed, arrs = self._start_at(first, ids, (countries, country_index, codes), signups, subs)
        self._first_columns = (ids, country_numbers, plans, signed, arrs)
        # A listener's state at boundary k includes every event at or before it.
        bounds = np.array(self.boundaries, dtype=np.int64)
        for owners, instants in (
            (ids, signups),
            *((subs[:, 0], subs[:, column]) for column in (1, 2, 3)),
        ):
            later = (instants > first) & (instants != _NEVER)
            index = np.searchsorted(bounds, instants[later], side="left")
            inside = index < len(bounds)
            for k, listener_id in zip(index[inside].tolist(), owners[later][inside].tolist(), strict=True):
                self._changed[k].add(listener_id)
        changed = np.fromiter(set().union(*self._changed.values()), dtype=np.int64)
        for listener_id, *sub in subs[np.isin(subs[:, 0], changed)].tolist():
            self._subs[listener_id].append(tuple(sub))

    def _start_at(
        self,
        at: int,
        ids: np.ndarray,
        country: tuple[list[str], np.ndarray, list[str]],
        signups: np.ndarray,
        subs: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every listener's state at instant `at`, as `_update` would find it one by one;
        returns each listener's plan, signed up (0/1) and 12 x MRR. `country`: each
        listener's code, the index of its code in `codes`, and `codes`."""
        countries, country_ids, codes = country
        owner = np.searchsorted(ids, subs[:, 0])
        start, end, paid_from, sub_arr, sub_id, plan_id = subs[:, 1:].T
        active = (start <= at) & (at < end)
        paid = active & (at >= paid_from)
        arr = np.zeros(len(ids), dtype=np.int64)
        np.add.at(arr, owner[paid], sub_arr[paid])
        # The primary plan: the active subscription ranking last by (paid, 12 x MRR,
        # start, id), as in `_state`.
        ranked = np.flatnonzero(active)[
            np.lexsort((sub_id[active], start[active], sub_arr[active], paid[active], owner[active]))
        ]
        plan = np.full(len(ids), _NO_PLAN, dtype=np.int64)
        if len(ranked):
            last = ranked[np.append(owner[ranked][1:] != owner[ranked][:-1], True)]
            plan[owner[last]] = plan_id[last]
        signed = signups <= at
        paying = arr > 0
        counted = signed | paying
        # Per (country, plan) group: listeners signed up, paying listeners, 12 x MRR. Each
        # group is keyed by one integer: a flat unique is several times faster than rows'.
        plans = int(plan.max(initial=_NO_PLAN)) - _NO_PLAN + 1
        keys, group_of = np.unique(
            country_ids[counted] * plans + (plan[counted] - _NO_PLAN), return_inverse=True
        )
        totals = np.zeros((len(keys), 3), dtype=np.int64)
        np.add.at(totals, group_of.ravel(), np.stack([signed, paying, arr], axis=1)[counted].astype(np.int64))
        for key, total in zip(keys.tolist(), totals.tolist(), strict=True):
            code, plan_id = divmod(key, plans)
            plan_id += _NO_PLAN
            self.groups[(codes[code], None if plan_id == _NO_PLAN else plan_id)] = total
        self.arr_of = dict(zip(ids[paying].tolist(), arr[paying].tolist(), strict=True))
        # A listener's contribution at `at`, for `_update` to take out of its group when
        # the listener first changes.
        self._first_state = (countries, plan.tolist(), signed.tolist(), arr.tolist())
        self._position = dict(zip(ids.tolist(), range(len(ids)), strict=True))
        return plan, signed.astype(np.int64), arr

    def _first_contribution(self, listener_id: int) -> tuple[tuple[str, int | None], int, int, int] | None:
        countries, plans, signed, arrs = self._first_state
        i = self._position[listener_id]
        if not (signed[i] or arrs[i]):
            return None
        plan_id = None if plans[i] == _NO_PLAN else plans[i]
        return (countries[i], plan_id), 1 if signed[i] else 0, 1 if arrs[i] else 0, arrs[i]

    def part_columns(self) -> tuple[np.ndarray, ...]:
        """Every counted listener's part at the boundary last advanced to, as columns:
        listener, `country_number`, plan (`_NO_PLAN`: none), signed up (0/1), 12 x MRR."""
        ids, countries, plans, signed, arrs = (column.copy() for column in self._first_columns)
        moved = np.fromiter(self._changed_before, dtype=np.int64, count=len(self._changed_before))
        for listener_id, at in zip(moved.tolist(), np.searchsorted(ids, moved).tolist(), strict=True):
            part = self._contribution.get(listener_id)
            (_, plan_id), signed[at], _, arrs[at] = part or ((None, None), 0, 0, 0)
            plans[at] = _NO_PLAN if plan_id is None else plan_id
        counted = (signed > 0) | (arrs > 0)
        return tuple(column[counted] for column in (ids, countries, plans, signed, arrs))

    def advance(self, index: int) -> None:
        """Move the state to boundary `index`; boundaries must be visited in order."""
        at = self.boundaries[index]
        for listener_id in self._changed.pop(index, ()):
            self._update(listener_id, at)

    def _update(self, listener_id: int, at: int) -> None:
        plan_id, arr = _state(self._subs.get(listener_id, ()), at)
        signed = 1 if self._signup[listener_id] <= at else 0
        paying = 1 if arr else 0
        key = (self.country_of[listener_id], plan_id)
        if listener_id in self._changed_before:
            old = self._contribution.pop(listener_id, None)
        else:
            self._changed_before.add(listener_id)
            old = self._first_contribution(listener_id)
        if old is not None:
            group = self.groups[old[0]]
            group[0] -= old[1]
            group[1] -= old[2]
            group[2] -= old[3]
        if signed or paying:
            group = self.groups[key]
            group[0] += signed
            group[1] += paying
            group[2] += arr
            self._contribution[listener_id] = (key, signed, paying, arr)
        if arr:
            self.arr_of[listener_id] = arr
        else:
            self.arr_of.pop(listener_id, None)


def _read_subs(subscriptions: QuerySet) -> np.ndarray:
    """One row per subscription: its listener, then the columns of `_Sub`."""
    cents = Cast(Round(F("price") * 100), BigIntegerField())
    never = Value(_NEVER, output_field=BigIntegerField())
    columns = int_columns(
        subscriptions,
        F("listener_id"),
        EpochMicroseconds("started_at"),
        Coalesce(EpochMicroseconds("ended_at"), never),
        Case(
            When(price__lte=0, then=never),
            default=Coalesce(EpochMicroseconds("trial_ends_at"), EpochMicroseconds("started_at")),
            output_field=BigIntegerField(),
        ),
        Case(
            When(billing_period=BillingPeriod.ANNUAL, then=cents),
            default=cents * 12,
            output_field=BigIntegerField(),
        ),
        F("id"),
        F("plan_id"),
    )
    return np.stack(columns, axis=1) if columns else np.zeros((0, 7), dtype=np.int64)


def _state(subs: list[_Sub] | tuple, at: int) -> tuple[int | None, int]:
    """The primary plan and the 12 x MRR (cents) of one listener at instant `at`."""
    best: tuple[tuple[bool, int, int, int], int] | None = None
    arr = 0
    for start, end, paid_from, sub_arr, sub_id, plan_id in subs:
        if start <= at < end:
            paid = at >= paid_from
            if paid:
                arr += sub_arr
            rank = (paid, sub_arr, start, sub_id)
            if best is None or rank > best[0]:
                best = (rank, plan_id)
    return (best[1] if best else None), arr


def _paid_before(listener_ids: list[int], instant: datetime) -> set[int]:
    """The listeners among `listener_ids` with a subscription paid before `instant`.
    Asked only for the listeners who start paying in a month (a few thousand at 10M
    events, where summing every listener's first paid instant read 400,000
    subscriptions)."""
    paid_from = Coalesce(F("trial_ends_at"), F("started_at"))
    subscriptions = (
        Subscription.objects.filter(price__gt=0)
        .alias(paid_from=paid_from)
        .filter(paid_from__lt=instant)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=F("paid_from")))
    )
    found: set[int] = set()
    for rows in _with_ids(subscriptions, "listener_id", listener_ids):
        found.update(rows.values_list("listener_id", flat=True).distinct().order_by())
    return found


def _with_ids(rows: QuerySet, field: str, ids: Iterable[int]) -> Iterator[QuerySet]:
    """`rows` narrowed to those whose `field` is one of `ids`: on PostgreSQL in one query
    with a single array parameter (binding thousands of `IN` placeholders took longer
    than the query); elsewhere in batches short enough for `IN` (SQLite caps a query's
    parameters)."""
    ids = sorted(set(ids))
    if not ids:
        return
    if connection.vendor == "postgresql":
        yield among(rows, field, np.array(ids, dtype=np.int64))
        return
    for batch in batched(ids, min(5000, (connection.features.max_query_params or 5000) - 10)):
        yield rows.filter(**{f"{field}__in": batch})


def _write_mrr_month(
    *,
    month: date,
    as_of: date,
    start: dict[int, int],
    end: dict[int, int],
    country_of: dict[int, str],
) -> int:
    # Per country: start, new, reactivation, expansion, contraction, churn, end (cents),
    # customers at start, churned, at end.
    totals: dict[str, list[int]] = defaultdict(lambda: [0] * 10)
    # Starting to pay is new MRR for a first-time payer, reactivation for a returning one.
    returning = _paid_before(
        [listener_id for listener_id in end if not start.get(listener_id)], _time.day_start(month)
    )
    for listener_id in start.keys() | end.keys():
        s, e = start.get(listener_id, 0), end.get(listener_id, 0)
        _add_movement(totals[country_of[listener_id]], s, e, returning=listener_id in returning)
    return _replace_mrr_month(month, as_of, totals)


def _add_movement(row: list[int], s: int, e: int, *, returning: bool, sign: int = 1) -> None:
    """Add (`sign` -1: take out) one listener's part of its country's MRR month row, for
    12 x MRR `s` at the month's start and `e` at its end (cents)."""
    row[0] += sign * s
    row[6] += sign * e
    if s == 0:
        row[2 if returning else 1] += sign * e
    elif e == 0:
        row[5] += sign * s
        row[8] += sign
    elif e > s:
        row[3] += sign * (e - s)
    elif e < s:
        row[4] += sign * (s - e)
    row[7] += sign if s else 0
    row[9] += sign if e else 0


# An MRR month row's figures per country, in the order `_add_movement` keeps them: 12 x
# MRR at the start, new, reactivation, expansion, contraction, churn, at the end (cents
# in memory); customers at the start, churned, at the end.
_MRR_COLUMNS = (
    "arr_start",
    "arr_new",
    "arr_reactivation",
    "arr_expansion",
    "arr_contraction",
    "arr_churn",
    "arr_end",
    "customers_start",
    "customers_churned",
    "customers_end",
)


def _replace_mrr_month(month: date, as_of: date, totals: dict[str, list[int]]) -> int:
    MrrMonth.objects.filter(month=month).delete()
    return insert_rows(
        MrrMonth,
        ("month", "as_of", "country", *_MRR_COLUMNS),
        [
            (_d(month), _d(as_of), country, *map(_money, values[:7]), *values[7:])
            for country, values in sorted(totals.items())
            if any(values)  # no listener of the country paid in the month
        ],
    )


def _payment_facts(first: date, stop: date, labels: _Labels) -> dict[date, dict[_FactKey, _Facts]]:
    """Per local day of `[first, stop)` and (country, plan, method): attempts, outcomes
    and gross by the day of the attempt, refunds by the day of the refund.

    The payments are grouped without their listener's country and subscription's plan,
    which come from `labels` (a sweep's tables): joined in the database, PostgreSQL
    hashed every subscription and listener to label a few thousand payments."""
    start, end = _time.day_bounds(first, stop)
    zone = _time.reporting_zone()
    cents = Cast(Round(F("amount") * 100), BigIntegerField())
    revenue = Q(status__in=_REVENUE_STATUSES)
    group = {"payer": F("listener_id"), "paid_for": F("subscription_id"), "pay_method": F("method")}
    attempts = _fetch(
        Payment.objects.filter(paid_at__gte=start, paid_at__lt=end)
        .values(local_day=TruncDate("paid_at", tzinfo=zone), **group)
        .annotate(
            n=Count("id"),
            ok=Count("id", filter=revenue),
            ko=Count("id", filter=Q(status=PaymentStatus.FAILED)),
            gross=Coalesce(Sum(cents, filter=revenue), 0),
        )
        .values_list("local_day", *group, "n", "ok", "ko", "gross")
        .order_by()
    )
    refunds = _fetch(
        Payment.objects.filter(refunded_at__gte=start, refunded_at__lt=end)
        .values(local_day=TruncDate("refunded_at", tzinfo=zone), **group)
        .annotate(total=Sum(cents))
        .values_list("local_day", *group, "total")
        .order_by()
    )
    rows = [*attempts, *refunds]
    country_of = labels.countries_of({row[1] for row in rows})
    plan_of = labels.plans_of({row[2] for row in rows})
    days: dict[object, date] = {}
    totals: dict[date, dict[_FactKey, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 5))
    for local_day, listener_id, subscription_id, method, *counts in attempts:
        day = days.get(local_day) or days.setdefault(local_day, to_date(local_day))
        total = totals[day][(country_of[listener_id], plan_of[subscription_id], method)]
        for n, count in enumerate(counts):
            total[n] += count
    for local_day, listener_id, subscription_id, method, refunded in refunds:
        day = days.get(local_day) or days.setdefault(local_day, to_date(local_day))
        totals[day][(country_of[listener_id], plan_of[subscription_id], method)][4] += refunded
    return {
        day: {
            key: {
                "attempts": attempted,
                "succeeded": succeeded,
                "failed": failed,
                "gross": _money(gross),
                "refunds": _money(refunded),
            }
            for key, (attempted, succeeded, failed, gross, refunded) in by_key.items()
        }
        for day, by_key in totals.items()
    }


def _fetch(queryset) -> list[tuple]:
    """The rows of a `values_list` queryset as the database returns them, without
    Django's per-row conversion (dates may come back as text: see `to_date`)."""
    return fetchall(*queryset.query.sql_with_params())


def _empty_facts() -> _Facts:
    return dict.fromkeys(_FACT_COLUMNS[:3], 0) | dict.fromkeys(_FACT_COLUMNS[3:], _ZERO)


def _fact_values(facts: _Facts) -> tuple:
    return tuple(facts[name] for name in _FACT_COLUMNS)


def _write_payment_month(month: date, facts: dict[date, dict[_FactKey, _Facts]]) -> dict[str, int]:
    totals: dict[_FactKey, _Facts] = defaultdict(_empty_facts)
    for by_key in facts.values():
        for key, values in by_key.items():
            total = totals[key]
            for name, value in values.items():
                total[name] += value
    PaymentMonth.objects.filter(month=month).delete()
    PaymentRegionMonth.objects.filter(month=month).delete()
    at = _d(month)
    created = insert_rows(
        PaymentMonth,
        ("month", "country", "plan_id", "method", *_FACT_COLUMNS),
        [(at, *key, *_fact_values(values)) for key, values in sorted(totals.items())],
    )
    regional = insert_rows(
        PaymentRegionMonth,
        ("month", "region", "plan_id", "method", *_FACT_COLUMNS),
        [(at, *key, *_fact_values(values)) for key, values in _by_region(totals).items()],
    )
    return {"payment_months": created, "payment_region_months": regional}


# Trials, by the month they started in.


def _refresh_trials(*, begin: date, today: date, progress: Progress | None) -> int:
    # A trial that started before the window but ended inside it changed outcome there.
    begin_instant = _time.day_start(begin)
    # The count makes PostgreSQL read the few trials ending since by their index, where
    # the MIN alone walks the start index from the oldest subscription.
    earliest = Subscription.objects.filter(trial_ends_at__gte=begin_instant).aggregate(
        first=Min("started_at"), trials=Count("id")
    )["first"]
    first_month = _time.month_start(min(begin, _time.local_date(earliest)) if earliest else begin)
    cutoff = _time.day_start(today + _time.ONE_DAY)
    months = _time.months(first_month, today + _time.ONE_DAY)
    written = 0
    for index, month in enumerate(months):
        start, end = _time.day_bounds(month, _time.add_months(month, 1))
        with transaction.atomic():
            TrialMonth.objects.filter(month=month).delete()
            rows = (
                Subscription.objects.filter(
                    trial_ends_at__isnull=False,
                    trial_ends_at__lte=cutoff,
                    started_at__gte=start,
                    started_at__lt=end,
                )
                .values("plan_id", country=F("listener__country"))
                .annotate(
                    n=Count("id"),
                    ok=Count("id", filter=Q(ended_at__isnull=True) | Q(ended_at__gt=F("trial_ends_at"))),
                )
                .order_by("country", "plan_id")
            )
            written += insert_rows(
                TrialMonth,
                ("month", "country", "plan_id", "trials", "converted"),
                [(_d(month), str(row["country"]), row["plan_id"], row["n"], row["ok"]) for row in rows],
            )
        if progress:
            progress("billing: trials", index + 1, len(months))
    return written

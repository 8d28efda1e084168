"""Plans, subscriptions and payments, simulated for all listeners at once.

The billing services write one subscription or payment at a time; the seed cannot
afford that, so it steps every listener through the same state machine together with
numpy, and writes rows that obey the services' rules:

- a subscription is active over `[started_at, ended_at)`; a listener has at most one
  open subscription and never two overlapping ones. Every listener starts on Free at
  signup; moving to another plan ends the old subscription and starts the new one at
  the same instant (cancel reason `plan_change`).
- price and billing period are the plan's, agreed at the start.
- a trial is offered once per listener: `trial_ends_at = current_period_end =
  started_at + trial_days`.
- each paid period `[period_start, period_end)` (calendar months of the reporting time
  zone counted from the anchor, the first paid instant, the day clamped: anchored on
  Jan 31 the periods end on Feb 28, Mar 31...; twelve months for the annual plan, as
  `billing.periods` computes them) has one succeeded payment with the key
  `renew:<subscription id>:<period start ISO>`, and advances `current_period_end`.
  A failed attempt is a row too (`...:failed:<n>`); retries follow 1, 3 and 5 days
  later, and a period whose attempts all fail ends the subscription at the period
  start (`payment_failed`). A new subscription's first paid period is charged up front.
- a cancellation takes effect at period end: `ended_at = current_period_end`.
- a refund happens after its payment (`refunded_at >= paid_at`).

Behaviour (monthly hazards): free listeners convert at about 6% a month, more when
engaged, three times as much in their first month, more under the upsell experiment;
trials convert at 45-80% with engagement; paying listeners cancel at about 3% a month,
rising steeply when their listening falls and to 60% when they stopped listening;
lapsed listeners come back (reactivations); 1.5% of periods end with a plan change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.seeding.experiments import ConversionBoost
from analytics.seeding.listeners import PAYMENT_METHODS, ListenerData
from analytics.seeding.loading import NULL_INT, Coded, Rows
from analytics.seeding.timeline import DAY, Timeline, iso_utc
from billing.models import Payment, Plan, Subscription


@dataclass(frozen=True)
class PlanSpec:
    code: str
    name: str
    tier: str
    cents: int
    billing_period: str
    trial_days: int


PLANS = (
    PlanSpec("free", "Free", "free", 0, "monthly", 0),
    PlanSpec("student", "Premium Student", "student", 599, "monthly", 30),
    PlanSpec("individual", "Premium Individual", "individual", 1199, "monthly", 30),
    PlanSpec("duo", "Premium Duo", "duo", 1699, "monthly", 30),
    PlanSpec("family", "Premium Family", "family", 1999, "monthly", 30),
    PlanSpec("individual-annual", "Premium Individual (annual)", "individual", 11990, "annual", 0),
)
FREE, STUDENT, INDIVIDUAL, DUO, FAMILY, ANNUAL = range(len(PLANS))
_PRICE = np.array([p.cents for p in PLANS])
_TRIAL = np.array([p.trial_days for p in PLANS]) * DAY
_MONTHS = np.array([12 if p.billing_period == "annual" else 1 for p in PLANS])
# First premium plan: students (16-24) mostly choose Student, everyone else the rest.
_CHOICE_YOUNG = np.array([0, 0.45, 0.35, 0.08, 0.07, 0.05])
_CHOICE_OTHER = np.array([0, 0.02, 0.52, 0.13, 0.25, 0.08])
# Plan changes at a period end: from plan (row) to plan (column).
_CHANGE = np.array(
    [
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0.8, 0.1, 0.1, 0],
        [0, 0, 0, 0.4, 0.4, 0.2],
        [0, 0, 0.3, 0, 0.7, 0],
        [0, 0, 0.6, 0.4, 0, 0],
        [0, 0, 0.7, 0, 0.3, 0],
    ]
)
REASONS = np.array(["", "too_expensive", "not_using", "switched", "payment_failed", "plan_change", "other"])
_NO_REASON, _TOO_EXPENSIVE, _NOT_USING, _SWITCHED, _PAYMENT_FAILED, _PLAN_CHANGE, _OTHER = range(7)
STATUSES = np.array(["succeeded", "failed", "pending", "refunded"])
_SUCCEEDED, _FAILED, _PENDING, _REFUNDED = range(4)
_FAILURE_RATE = np.array([0.04, 0.06, 0.025, 0.08, 0.02, 0.025])  # by payment method
_RETRY_DAYS = (1, 3, 5)
_MONTH = 30 * DAY
_FREE_STATE, _TRIAL_STATE, _PAID_STATE, _DONE = range(4)


class _Subscriptions:
    """Growable subscription columns; rows change (end, period end) while simulating."""

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self.listener = np.zeros(capacity, dtype=np.int64)
        self.plan = np.zeros(capacity, dtype=np.int64)
        self.started = np.zeros(capacity, dtype=np.int64)
        self.trial_end = np.full(capacity, NULL_INT, dtype=np.int64)
        self.period_end = np.full(capacity, NULL_INT, dtype=np.int64)
        self.ended = np.full(capacity, NULL_INT, dtype=np.int64)
        self.auto_renew = np.ones(capacity, dtype=bool)
        self.reason = np.zeros(capacity, dtype=np.int64)

    def _grow(self, needed: int) -> None:
        if needed <= len(self.listener):
            return
        size = max(needed, 2 * len(self.listener))
        for name, fill in (
            ("listener", 0),
            ("plan", 0),
            ("started", 0),
            ("trial_end", NULL_INT),
            ("period_end", NULL_INT),
            ("ended", NULL_INT),
            ("auto_renew", True),
            ("reason", 0),
        ):
            old = getattr(self, name)
            new = np.full(size, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def add(self, listener: np.ndarray, plan: np.ndarray, started: np.ndarray) -> np.ndarray:
        self._grow(self.n + len(listener))
        index = np.arange(self.n, self.n + len(listener))
        self.n += len(listener)
        self.listener[index] = listener
        self.plan[index] = plan
        self.started[index] = started
        return index

    def end(self, index: np.ndarray, at: np.ndarray, reason: np.ndarray | int) -> None:
        self.ended[index] = at
        self.reason[index] = reason
        self.auto_renew[index] = False


@dataclass
class BillingData:
    paid_in_bucket: np.ndarray  # (L, buckets) paying at the middle of the month


class _Simulation:
    def __init__(self, listeners: ListenerData, timeline: Timeline, boost: ConversionBoost, rng) -> None:
        self.listeners = listeners
        self.timeline = timeline
        self.boost = boost
        self.rng = rng
        n = listeners.count
        self.subs = _Subscriptions(4 * n + 16)
        self.payments: dict[str, list[np.ndarray]] = {
            k: []
            for k in ("sub", "status", "attempt", "paid_at", "refunded_at", "period_start", "period_end")
        }
        self.state = np.full(n, _FREE_STATE)
        self.clock = listeners.signup.copy()  # free: start of the next window; paid: period start
        self.current = self.subs.add(np.arange(n), np.full(n, FREE), listeners.signup)
        self.first_period = np.zeros(n, dtype=bool)
        # Periods are counted from the anchor (first paid instant), as billing.periods does.
        self.anchor = np.zeros(n, dtype=np.int64)
        self.periods_paid = np.zeros(n, dtype=np.int64)
        self.had_trial = np.zeros(n, dtype=bool)
        self.ever_paid = np.zeros(n, dtype=bool)
        age = np.where(
            listeners.birth_year > 0, timeline.end // (365 * DAY) + 1970 - listeners.birth_year, 40
        )
        self.young = (age >= 16) & (age <= 24)
        positive = listeners.intensity[listeners.intensity > 0]
        self.typical = float(np.median(positive)) if positive.size else 1.0
        first = listeners.intensity[:, 0]
        self.history_level = np.where(first > 0, first, self.typical)

    # -- engagement ----------------------------------------------------------------------------

    def _engagement(self, who: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Engagement relative to a typical listener at `at`, and its ratio to the month before."""
        timeline = self.timeline
        bucket = np.clip(timeline.bucket_index(at), 0, timeline.buckets - 1)
        in_period = at >= timeline.start
        now = np.where(in_period, self.listeners.intensity[who, bucket], self.history_level[who])
        before = np.where(
            in_period & (bucket > 0),
            self.listeners.intensity[who, np.maximum(bucket - 1, 0)],
            self.history_level[who],
        )
        ratio = np.where(before > 0, now / np.maximum(before, 1e-9), 1.0)
        return now / self.typical, ratio

    # -- payments --------------------------------------------------------------------------------

    def _record(self, sub, status, attempt, paid_at, period_start, period_end, refunded_at=None) -> None:
        if refunded_at is None:
            refunded_at = np.full(len(sub), NULL_INT, dtype=np.int64)
        for name, value in (
            ("sub", sub),
            ("status", np.broadcast_to(status, len(sub))),
            ("attempt", np.broadcast_to(attempt, len(sub))),
            ("paid_at", paid_at),
            ("refunded_at", refunded_at),
            ("period_start", period_start),
            ("period_end", period_end),
        ):
            self.payments[name].append(np.array(value, dtype=np.int64))

    def _charge(self, who: np.ndarray, period_start: np.ndarray, period_end: np.ndarray) -> np.ndarray:
        """Attempt the payment of one period for each listener; returns which succeeded."""
        rng, end = self.rng, self.timeline.end
        sub = self.current[who]
        # New subscriptions are charged up front, and a retry past the end of the data
        # would be in the future: those periods are paid at the first attempt.
        may_fail = ~self.first_period[who] & (period_start + _RETRY_DAYS[-1] * DAY < end)
        failure = _FAILURE_RATE[self.listeners.payment_method[who]]
        failed_first = may_fail & (rng.random(len(who)) < failure)
        paid_at = period_start.copy()
        attempts = np.where(failed_first, 0, 1)  # attempt number that succeeded, 0 = none yet
        for n, days in enumerate(_RETRY_DAYS, start=2):
            pending = attempts == 0
            attempts[pending & (rng.random(len(who)) < 0.55)] = n
            paid_at[pending] = period_start[pending] + days * DAY
        succeeded = attempts > 0
        # Failed attempts before the success (or all four when none succeeded).
        tried = np.where(succeeded, attempts - 1, 1 + len(_RETRY_DAYS))
        offsets = np.array([0, *_RETRY_DAYS]) * DAY
        for n in range(1, 2 + len(_RETRY_DAYS)):
            rows = tried >= n
            self._record(
                sub[rows],
                _FAILED,
                n,
                period_start[rows] + offsets[n - 1],
                period_start[rows],
                period_end[rows],
            )
        ok = np.flatnonzero(succeeded)
        refunded_at = paid_at[ok] + rng.integers(DAY, 12 * DAY, len(ok))
        refund = (rng.random(len(ok)) < 0.006) & (refunded_at < end)
        self._record(
            sub[ok],
            np.where(refund, _REFUNDED, _SUCCEEDED),
            0,
            paid_at[ok],
            period_start[ok],
            period_end[ok],
            np.where(refund, refunded_at, NULL_INT),
        )
        self.subs.period_end[sub[ok]] = period_end[ok]
        self.first_period[who] = False
        return succeeded

    # -- transitions -----------------------------------------------------------------------------

    def _start(self, who: np.ndarray, plan: np.ndarray, at: np.ndarray) -> None:
        """Start a new subscription for `who` at `at` (their previous one ended there)."""
        new = self.subs.add(who, plan, at)
        self.current[who] = new
        paying = plan != FREE
        trial = paying & ~self.had_trial[who] & (_TRIAL[plan] > 0)
        trial_end = at + _TRIAL[plan]
        self.subs.trial_end[new[trial]] = trial_end[trial]
        self.subs.period_end[new[trial]] = trial_end[trial]
        self.had_trial[who[trial]] = True
        self.ever_paid[who[paying]] = True
        self.state[who] = np.where(trial, _TRIAL_STATE, np.where(paying, _PAID_STATE, _FREE_STATE))
        self.clock[who] = np.where(trial, trial_end, at)
        self.anchor[who] = self.clock[who]
        self.periods_paid[who] = 0
        self.first_period[who] = paying & ~trial

    def _to_free(self, who: np.ndarray, at: np.ndarray) -> None:
        """After a premium subscription ended at `at`: back on Free if that is not in the future."""
        now = at < self.timeline.end
        self._start(who[now], np.full(int(now.sum()), FREE), at[now])
        self.state[who[~now]] = _DONE

    def _free_step(self, who: np.ndarray) -> None:
        rng, end = self.rng, self.timeline.end
        start = self.clock[who]
        over = start >= end - 1
        self.state[who[over]] = _DONE
        who, start = who[~over], start[~over]
        window = np.minimum(_MONTH, end - start)
        level, _ = self._engagement(who, start)
        hazard = np.where(level > 0, 0.06 * np.clip(level, 0, 4) ** 0.6, 0.004)
        hazard *= np.where(start - self.listeners.signup[who] < _MONTH, 3.0, 1.0)
        hazard *= np.where(self.ever_paid[who], 0.6, 1.0)
        boosted = (start >= self.boost.start[who]) & (start < self.boost.end[who])
        hazard *= np.where(boosted, self.boost.factor[who], 1.0)
        converts = rng.random(len(who)) < hazard * window / _MONTH
        # Strictly inside the window: the Free subscription must not end where it started.
        at = start + 1 + (rng.random(len(who)) * (window - 1)).astype(np.int64)
        self.clock[who[~converts]] = start[~converts] + window[~converts]
        who, at = who[converts], at[converts]
        self.subs.end(self.current[who], at, _PLAN_CHANGE)
        choice = np.where(self.young[who, None], _CHOICE_YOUNG, _CHOICE_OTHER)
        plan = (rng.random(len(who))[:, None] > np.cumsum(choice, axis=1)).sum(axis=1)
        self._start(who, np.minimum(plan, len(PLANS) - 1), at)

    def _trial_step(self, who: np.ndarray) -> None:
        rng, end = self.rng, self.timeline.end
        trial_end = self.clock[who]
        sub = self.current[who]
        started = self.subs.started[sub]
        level, _ = self._engagement(who, np.minimum(trial_end, end - 1))
        keep = np.where(level > 0, 0.45 + 0.35 * np.clip(level / 2, 0, 1), 0.15)
        stays = rng.random(len(who)) < keep
        reason = np.where(level > 0, rng.choice([_TOO_EXPENSIVE, _NOT_USING, _OTHER], len(who)), _NOT_USING)
        # A trial still running at the end: a cancellation is only known if decided by then.
        running = trial_end >= end
        decided = rng.random(len(who)) < (end - started) / np.maximum(trial_end - started, 1)
        cancel_future = running & ~stays & decided
        self.subs.end(sub[cancel_future], trial_end[cancel_future], reason[cancel_future])
        self.state[who[running]] = _DONE
        lapsed = ~running & ~stays
        self.subs.end(sub[lapsed], trial_end[lapsed], reason[lapsed])
        self._to_free(who[lapsed], trial_end[lapsed])
        converted = ~running & stays
        self.state[who[converted]] = _PAID_STATE  # the first paid period starts at the trial end

    def _paid_step(self, who: np.ndarray) -> None:
        rng, end = self.rng, self.timeline.end
        period_start = self.clock[who]
        over = period_start >= end
        self.state[who[over]] = _DONE
        who, period_start = who[~over], period_start[~over]
        sub = self.current[who]
        plan = self.subs.plan[sub]
        period_end = self.timeline.clock.add_months(
            self.anchor[who], (self.periods_paid[who] + 1) * _MONTHS[plan]
        )
        paid = self._charge(who, period_start, period_end)
        self.periods_paid[who] += 1

        failed = ~paid
        self.subs.end(sub[failed], period_start[failed], _PAYMENT_FAILED)
        self._to_free(who[failed], period_start[failed])
        who, sub, plan = who[paid], sub[paid], plan[paid]
        period_start, period_end = period_start[paid], period_end[paid]

        # What happens at the end of this period, decided at some instant within it.
        decided_at = period_start + (rng.random(len(who)) * (period_end - period_start)).astype(np.int64)
        knowable = decided_at < end
        level, ratio = self._engagement(who, np.minimum(decided_at, end - 1))
        base = np.where(_MONTHS[plan] == 12, 0.15, 0.02)
        decline = np.clip(ratio, 0.05, 20.0) ** -3.0
        hazard = np.where(level > 0, base * decline / np.sqrt(np.clip(level, 0.2, 5.0)), 0.6)
        cancel = knowable & (rng.random(len(who)) < np.minimum(hazard, 0.9))
        change = knowable & ~cancel & (period_end < end) & (rng.random(len(who)) < 0.015)

        reason = np.where(
            level > 0,
            rng.choice([_TOO_EXPENSIVE, _NOT_USING, _SWITCHED, _OTHER], len(who), p=[0.35, 0.25, 0.25, 0.15]),
            rng.choice([_NOT_USING, _TOO_EXPENSIVE, _SWITCHED, _OTHER], len(who), p=[0.7, 0.15, 0.1, 0.05]),
        )
        self.subs.end(sub[cancel], period_end[cancel], reason[cancel])
        self._to_free(who[cancel], period_end[cancel])

        self.subs.end(sub[change], period_end[change], _PLAN_CHANGE)
        target = (rng.random(int(change.sum()))[:, None] > np.cumsum(_CHANGE[plan[change]], axis=1)).sum(
            axis=1
        )
        self._start(who[change], np.minimum(target, len(PLANS) - 1), period_end[change])

        renew = ~cancel & ~change
        self.clock[who[renew]] = period_end[renew]

    def run(self) -> None:
        while True:
            free = np.flatnonzero(self.state == _FREE_STATE)
            trial = np.flatnonzero(self.state == _TRIAL_STATE)
            paid = np.flatnonzero(self.state == _PAID_STATE)
            if not (len(free) or len(trial) or len(paid)):
                return
            self._free_step(free)
            self._trial_step(trial)
            self._paid_step(paid)


def _paid_in_buckets(subs: _Subscriptions, n_listeners: int, timeline: Timeline) -> np.ndarray:
    count = subs.n
    paying_from = np.where(subs.trial_end[:count] == NULL_INT, subs.started[:count], subs.trial_end[:count])
    until = np.where(subs.ended[:count] == NULL_INT, np.iinfo(np.int64).max, subs.ended[:count])
    premium = subs.plan[:count] != FREE
    middle = (timeline.bucket_start[:-1] + timeline.bucket_start[1:]) // 2
    paid = np.zeros((n_listeners, timeline.buckets), dtype=bool)
    for b, at in enumerate(middle):
        rows = premium & (paying_from <= at) & (at < until)
        paid[subs.listener[:count][rows], b] = True
    return paid


def build_billing(
    listeners: ListenerData, timeline: Timeline, boost: ConversionBoost, rng: np.random.Generator
) -> tuple[BillingData, list[Rows]]:
    simulation = _Simulation(listeners, timeline, boost, rng)
    simulation.run()
    subs, count = simulation.subs, simulation.subs.n

    # Ids in the order the rows came to be: subscriptions by start, payments by attempt time.
    sub_order = np.lexsort((np.arange(count), subs.listener[:count], subs.started[:count]))
    sub_id = np.empty(count, dtype=np.int64)
    sub_id[sub_order] = np.arange(1, count + 1)
    plan = subs.plan[:count][sub_order]
    subscription_rows = Rows(
        Subscription,
        {
            "id": np.arange(1, count + 1),
            "listener_id": subs.listener[:count][sub_order] + 1,
            "plan_id": plan + 1,
            "started_at": subs.started[:count][sub_order],
            "trial_ends_at": subs.trial_end[:count][sub_order],
            "current_period_end": subs.period_end[:count][sub_order],
            "ended_at": subs.ended[:count][sub_order],
            "price": _PRICE[plan],
            "billing_period": Coded(plan, [p.billing_period for p in PLANS]),
            "auto_renew": subs.auto_renew[:count][sub_order],
            "cancel_reason": Coded(subs.reason[:count][sub_order], REASONS.tolist()),
        },
    )

    pay = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in simulation.payments.items()}
    pay_sub = pay["sub"]
    pay_listener = subs.listener[pay_sub]
    order = np.lexsort((pay["attempt"], pay_listener, pay["paid_at"]))
    pay = {k: v[order] for k, v in pay.items()}
    pay_sub, pay_listener = pay["sub"], pay_listener[order]
    key = np.strings.add(np.strings.add("renew:", sub_id[pay_sub].astype(str)), ":")
    key = np.strings.add(key, iso_utc(pay["period_start"]))
    failed = pay["status"] == _FAILED
    key[failed] = np.strings.add(np.strings.add(key[failed], ":failed:"), pay["attempt"][failed].astype(str))
    payment_rows = Rows(
        Payment,
        {
            "id": np.arange(1, len(order) + 1),
            "listener_id": pay_listener + 1,
            "subscription_id": sub_id[pay_sub],
            "amount": _PRICE[subs.plan[pay_sub]],
            "currency": Coded(np.zeros(len(order), dtype=np.int64), ["USD"]),
            "method": Coded(listeners.payment_method[pay_listener], PAYMENT_METHODS),
            "status": Coded(pay["status"], STATUSES.tolist()),
            "paid_at": pay["paid_at"],
            "refunded_at": pay["refunded_at"],
            "period_start": pay["period_start"],
            "period_end": pay["period_end"],
            "idempotency_key": key.astype("S"),  # ASCII
        },
    )
    plan_rows = Rows(
        Plan,
        {
            "id": np.arange(1, len(PLANS) + 1),
            "code": [p.code for p in PLANS],
            "name": [p.name for p in PLANS],
            "tier": [p.tier for p in PLANS],
            "price": _PRICE,
            "currency": ["USD"] * len(PLANS),
            "billing_period": [p.billing_period for p in PLANS],
            "trial_days": np.array([p.trial_days for p in PLANS]),
            "is_active": np.ones(len(PLANS), dtype=bool),
        },
    )
    data = BillingData(paid_in_bucket=_paid_in_buckets(subs, listeners.count, timeline))
    return data, [plan_rows, subscription_rows, payment_rows]

"""Engagement KPIs: listening minutes, sessions, skip rates and the playlist funnel.

Each KPI reads the listening rollups (`ListeningDay`, `SessionDay`, `PlaylistRunDay`)
and registers a reference computed from the raw events. Series follow the audience
conventions (`period` = ISO date of the bucket's first day, zero-filled, buckets wholly
after `today` empty). Filters: country/region select listeners by country, device the
events' device, genre the tracks' genre, plan the plan of the listener's subscription
active at `played_at` (the free plan's code selects the free tier and listeners with no
subscription).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.db.models import BigIntegerField, Count, F, Max, Q, Sum, Value
from django.db.models.functions import Coalesce, ExtractHour

from analytics.kpis._names import country_name
from analytics.kpis._time import day_start, days, local_date, reporting_zone, series_buckets
from analytics.kpis.registry import Column, KpiResult, kpi, reference
from analytics.models import (
    STREAM_MIN_MS,
    Device,
    ListeningDay,
    ListeningEvent,
    PlayContext,
    PlaylistRunDay,
    SessionDay,
)
from analytics.rollups.dims import Dim, country_scope, grouping_for
from analytics.rollups.facts import events_between, local_day, plan_at_play
from analytics.rollups.sessions import MAX_RUN_DEPTH, SESSION_GAP_MS
from billing.models import Plan, Tier
from catalog.models import Genre

FACT_FILTERS = ("country", "region", "device", "genre", "plan")
PERIOD = Column("period", "Period", "date")
MS_PER_MINUTE = 60_000
PODCASTS = "Podcasts"
FREE = "Free"
FUNNEL_STEPS = 10

# The rollup column of each dimension.
_DIM_OF = {
    "country": Dim.COUNTRY,
    "device": Dim.DEVICE,
    "plan_id": Dim.PLAN,
    "genre_id": Dim.GENRE,
    "hour": Dim.HOUR,
}


def _plan_key(plan: str | None) -> int | None:
    """The rollups' plan key of a plan code: 0 for a free-tier plan, else its id
    (-1, matching nothing, for an unknown code)."""
    if not plan:
        return None
    found = Plan.objects.filter(code=plan).values_list("id", "tier").first()
    if found is None:
        return -1
    return 0 if found[1] == Tier.FREE else found[0]


# Past this many (day, country) pairs PostgreSQL no longer probes them one by one but
# reads the whole grouping (Europe over 90 days, 4,950 pairs: 30 ms by day range, 80 ms
# by lists); a range of the days then reads less.
_LISTED_PAIRS = 1_000


def _facts(
    start: date,
    end: date,
    by: tuple[str, ...],
    *,
    country=None,
    region=None,
    device=None,
    genre=None,
    plan=None,
) -> list[dict]:
    """Events, streams, skips and ms played from `ListeningDay`, summed per `by` (among
    day, country, device, plan_id, genre_id, hour), from the smallest stored grouping."""
    countries = country_scope(country, region)
    plan_key = _plan_key(plan)
    dims = {_DIM_OF[column] for column in by if column != "day"}
    if countries is not None:
        dims.add(Dim.COUNTRY)
    if device:
        dims.add(Dim.DEVICE)
    if genre:
        dims.add(Dim.GENRE)
    if plan_key is not None:
        dims.add(Dim.PLAN)
    rows = ListeningDay.objects.filter(grouping=grouping_for(dims))
    if countries is not None and len(countries) * (end - start).days <= _LISTED_PAIRS:
        # The days as a list: the index (grouping, day, country, ...) then finds each
        # (day, country) pair instead of reading every country's rows of the range
        # (at 10M events over 90 days: one country 12 ms down to 3 ms, North America
        # 50 ms down to 10 ms).
        rows = rows.filter(day__in=days(start, end), country__in=countries)
    else:
        rows = rows.filter(day__gte=start, day__lt=end)
        if countries is not None:
            rows = rows.filter(country__in=countries)
    if device:
        rows = rows.filter(device=device)
    if genre:
        rows = rows.filter(genre_id=int(genre))
    if plan_key is not None:
        rows = rows.filter(plan_id=plan_key)
    return list(
        rows.values(*by)
        .annotate(events=Sum("events"), streams=Sum("streams"), skips=Sum("skips"), ms=Sum("ms_played"))
        .order_by()
    )


def _raw_facts(
    start: date,
    end: date,
    by: tuple[str, ...],
    *,
    country=None,
    region=None,
    device=None,
    genre=None,
    plan=None,
) -> list[dict]:
    """The same straight from the events."""
    events = events_between(start, end)
    countries = country_scope(country, region)
    if countries is not None:
        events = events.filter(listener__country__in=countries)
    if device:
        events = events.filter(device=device)
    if genre:
        events = events.filter(track__genre_id=int(genre))
    plan_key = _plan_key(plan)
    annotations = {
        "day": local_day(),
        "country": F("listener__country"),
        "plan_id": plan_at_play(),
        "genre_id": Coalesce(F("track__genre_id"), Value(0), output_field=BigIntegerField()),
        "hour": ExtractHour("played_at", tzinfo=reporting_zone()),
    }
    wanted = set(by) | ({"plan_id"} if plan_key is not None else set())
    events = events.annotate(**{name: annotations[name] for name in wanted if name != "device"})
    if plan_key is not None:
        events = events.filter(plan_id=plan_key)
    return list(
        events.values(*by)
        .annotate(
            events=Count("id"),
            streams=Count("id", filter=Q(ms_played__gte=STREAM_MIN_MS)),
            skips=Count("id", filter=Q(skipped=True)),
            ms=Sum("ms_played"),
        )
        .order_by()
    )


def _rate(skips: int, events: int) -> float | None:
    return skips / events if events else None


# --- Series: minutes and skip rate --------------------------------------------------------


def _series(rows: Iterable[dict], start, end, today, grain, build) -> list[dict]:
    per_day = {row["day"]: row for row in rows}
    out = []
    for bucket, inside in series_buckets(start, end, grain, today):
        totals = {"events": 0, "skips": 0, "ms": 0}
        for day in inside:
            for key in totals:
                totals[key] += per_day.get(day, {}).get(key) or 0
        out.append({"period": bucket.isoformat(), **build(totals if inside else None)})
    return out


def _minutes(rows, start, end, today, grain) -> KpiResult:
    def build(totals):
        return {"minutes": None if totals is None else totals["ms"] / MS_PER_MINUTE}

    return KpiResult(
        columns=[PERIOD, Column("minutes", "Listening minutes", "minutes")],
        rows=_series(rows, start, end, today, grain, build),
    )


@kpi(
    slug="listening-minutes",
    title="Listening minutes",
    family="engagement",
    unit="minutes",
    chart="bar",
    x="period",
    y=("minutes",),
    filters=(*FACT_FILTERS, "grain"),
    headline="minutes",
)
def listening_minutes(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    """Listening minutes = sum of ms_played of the bucket's events / 60 000 (every play,
    skips included)."""
    return _minutes(_facts(start, end, ("day",), **filters), start, end, today, grain)


@reference("listening-minutes")
def listening_minutes_raw(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    return _minutes(_raw_facts(start, end, ("day",), **filters), start, end, today, grain)


RATE_COLUMNS = [
    Column("events", "Events"),
    Column("skips", "Skips"),
    Column("skip_rate", "Skip rate", "ratio"),
]


def _skip_series(rows, start, end, today, grain) -> KpiResult:
    def build(totals):
        if totals is None:
            return {"events": None, "skips": None, "skip_rate": None}
        return {
            "events": totals["events"],
            "skips": totals["skips"],
            "skip_rate": _rate(totals["skips"], totals["events"]),
        }

    return KpiResult(columns=[PERIOD, *RATE_COLUMNS], rows=_series(rows, start, end, today, grain, build))


@kpi(
    slug="skip-rate",
    title="Skip rate",
    family="engagement",
    unit="ratio",
    chart="line",
    x="period",
    y=("skip_rate",),
    filters=(*FACT_FILTERS, "grain"),
    headline="skip_rate",
)
def skip_rate(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    """Skip rate = skipped events / events (a skip ends a play before 30 s)."""
    return _skip_series(_facts(start, end, ("day",), **filters), start, end, today, grain)


@reference("skip-rate")
def skip_rate_raw(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    return _skip_series(_raw_facts(start, end, ("day",), **filters), start, end, today, grain)


# --- Skip rate breakdowns ------------------------------------------------------------------


def _rate_row(row: dict | None) -> dict:
    events, skips = (row["events"], row["skips"]) if row else (0, 0)
    return {"events": events, "skips": skips, "skip_rate": _rate(skips, events)}


def _by_genre(rows: list[dict]) -> KpiResult:
    by_id = {row["genre_id"]: row for row in rows}
    names = dict(Genre.objects.filter(id__in=[g for g in by_id if g]).values_list("id", "name"))
    ordered = sorted((names.get(g, f"Genre {g}"), g) for g in by_id if g)
    out = [{"genre": name, "genre_id": g, **_rate_row(by_id[g])} for name, g in ordered]
    if 0 in by_id:
        out.append({"genre": PODCASTS, "genre_id": None, **_rate_row(by_id[0])})
    return KpiResult(columns=[Column("genre", "Genre", "text"), *RATE_COLUMNS], rows=out)


@kpi(
    slug="skip-rate-by-genre",
    title="Skip rate by genre",
    family="engagement",
    unit="ratio",
    chart="horizontal-bar",
    x="genre",
    y=("skip_rate",),
    filters=("country", "region", "device", "plan"),
)
def skip_rate_by_genre(*, start: date, end: date, today: date, **filters) -> KpiResult:
    """Skip rate per genre of the played track, genres with events in the range by name;
    podcast episodes last, as one row."""
    return _by_genre(_facts(start, end, ("genre_id",), **filters))


@reference("skip-rate-by-genre")
def skip_rate_by_genre_raw(*, start: date, end: date, today: date, **filters) -> KpiResult:
    return _by_genre(_raw_facts(start, end, ("genre_id",), **filters))


def _by_hour(rows: list[dict]) -> KpiResult:
    by_hour = {row["hour"]: row for row in rows}
    return KpiResult(
        columns=[Column("hour", "Hour", "text"), *RATE_COLUMNS],
        rows=[{"hour": hour, **_rate_row(by_hour.get(hour))} for hour in range(24)],
    )


@kpi(
    slug="skip-rate-by-hour",
    title="Skip rate by hour of day",
    family="engagement",
    unit="ratio",
    chart="bar",
    x="hour",
    y=("skip_rate",),
    # The hour is kept with one other dimension at most: hour x country x device x plan x
    # genre per day would be as many rows as there are plays.
    filters=("country", "region"),
)
def skip_rate_by_hour(*, start: date, end: date, today: date, **filters) -> KpiResult:
    """Skip rate per local hour (0-23, reporting time zone) of played_at."""
    return _by_hour(_facts(start, end, ("hour",), **filters))


@reference("skip-rate-by-hour")
def skip_rate_by_hour_raw(*, start: date, end: date, today: date, **filters) -> KpiResult:
    return _by_hour(_raw_facts(start, end, ("hour",), **filters))


def _by_device(rows: list[dict]) -> KpiResult:
    by_device = {row["device"]: row for row in rows}
    return KpiResult(
        columns=[Column("device", "Device", "text"), *RATE_COLUMNS],
        rows=[
            {"device": label, "device_code": code, **_rate_row(by_device.get(code))}
            for code, label in Device.choices
        ],
    )


@kpi(
    slug="skip-rate-by-device",
    title="Skip rate by device",
    family="engagement",
    unit="ratio",
    chart="bar",
    x="device",
    y=("skip_rate",),
    filters=("country", "region", "genre", "plan"),
)
def skip_rate_by_device(*, start: date, end: date, today: date, **filters) -> KpiResult:
    """Skip rate per device the play happened on."""
    return _by_device(_facts(start, end, ("device",), **filters))


@reference("skip-rate-by-device")
def skip_rate_by_device_raw(*, start: date, end: date, today: date, **filters) -> KpiResult:
    return _by_device(_raw_facts(start, end, ("device",), **filters))


def _by_plan(rows: list[dict]) -> KpiResult:
    by_plan = {row["plan_id"]: row for row in rows}
    plans = list(Plan.objects.order_by("price", "code").values_list("id", "code", "name", "tier"))
    free_code = next((code for _, code, _, tier in plans if tier == Tier.FREE), "free")
    out = [{"plan": FREE, "plan_code": free_code, **_rate_row(by_plan.get(0))}]
    out += [
        {"plan": name, "plan_code": code, **_rate_row(by_plan.get(plan_id))}
        for plan_id, code, name, tier in plans
        if tier != Tier.FREE
    ]
    return KpiResult(columns=[Column("plan", "Plan", "text"), *RATE_COLUMNS], rows=out)


@kpi(
    slug="skip-rate-by-plan",
    title="Skip rate by plan",
    family="engagement",
    unit="ratio",
    chart="bar",
    x="plan",
    y=("skip_rate",),
    filters=("country", "region", "device", "genre"),
)
def skip_rate_by_plan(*, start: date, end: date, today: date, **filters) -> KpiResult:
    """Skip rate per plan of the listener's subscription active at played_at; "Free" holds
    the free tier and listeners without an active subscription. Plans by price."""
    return _by_plan(_facts(start, end, ("plan_id",), **filters))


@reference("skip-rate-by-plan")
def skip_rate_by_plan_raw(*, start: date, end: date, today: date, **filters) -> KpiResult:
    return _by_plan(_raw_facts(start, end, ("plan_id",), **filters))


def _by_country(rows: list[dict]) -> KpiResult:
    ordered = sorted(rows, key=lambda row: (-row["events"], row["country"]))
    return KpiResult(
        columns=[Column("country", "Country", "text"), *RATE_COLUMNS],
        rows=[
            {
                "country": country_name(row["country"]),
                "country_code": row["country"],
                **_rate_row(row),
            }
            for row in ordered
        ],
    )


@kpi(
    slug="skip-rate-by-country",
    title="Skip rate by country",
    family="engagement",
    unit="ratio",
    chart="horizontal-bar",
    x="country",
    y=("skip_rate",),
    filters=FACT_FILTERS,
)
def skip_rate_by_country(*, start: date, end: date, today: date, **filters) -> KpiResult:
    """Skip rate per listener country, countries with events in the range, most events first."""
    return _by_country(_facts(start, end, ("country",), **filters))


@reference("skip-rate-by-country")
def skip_rate_by_country_raw(*, start: date, end: date, today: date, **filters) -> KpiResult:
    return _by_country(_raw_facts(start, end, ("country",), **filters))


# --- Sessions and playlist runs -------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_ms(moment: datetime) -> int:
    # Whole milliseconds, rounded half up, as the rollup's SQL computes them.
    return ((moment - _EPOCH) // timedelta(microseconds=1) + 500) // 1000


def _raw_sessions(
    start: date, end: date, countries: list[str] | None
) -> tuple[dict[date, list[int]], dict[int, int]]:
    """Sessions started on `[start, end)` per day ([sessions, length_ms, depth]) and their
    playlist runs per depth (capped at 11), by walking each listener's events in order."""
    bounds = ListeningEvent.objects.aggregate(max_ms=Max("ms_played"), latest=Max("played_at"))
    lookback = timedelta(milliseconds=(bounds["max_ms"] or 0) + SESSION_GAP_MS + 1)
    window_start, window_end = day_start(start) - lookback, day_start(end) + timedelta(days=1)
    while True:
        events = ListeningEvent.objects.filter(played_at__gte=window_start, played_at__lt=window_end)
        if countries is not None:
            events = events.filter(listener__country__in=countries)
        rows = events.order_by("listener_id", "played_at", "id").values_list(
            "listener_id", "played_at", "ms_played", "context", "playlist_id"
        )
        walk = _SessionWalk(_epoch_ms(day_start(start)), _epoch_ms(day_start(end)), _epoch_ms(window_end))
        for row in rows:
            walk.play(*row)
        walk.close()
        # A session of the range that may go on past the window: widen it and walk again.
        if walk.cut_short and bounds["latest"] is not None and window_end <= bounds["latest"]:
            window_end += timedelta(days=1)
            continue
        return walk.sessions, walk.runs


class _SessionWalk:
    """Sessions and playlist runs of events fed in (listener, played_at, id) order."""

    def __init__(self, first_ms: int, last_ms: int, window_end_ms: int) -> None:
        self.first_ms, self.last_ms, self.window_end_ms = first_ms, last_ms, window_end_ms
        self.sessions: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.runs: dict[int, int] = defaultdict(int)
        self.cut_short = False
        self.listener: int | None = None
        self.start_ms = self.end_ms = self.depth = 0
        self.started_at: datetime | None = None
        self.run_depths: list[int] = []
        self.previous_key: int | None = None

    def play(self, listener_id: int, played_at: datetime, ms_played: int, context: str, playlist_id) -> None:
        t0 = _epoch_ms(played_at)
        key = (playlist_id or 0) if context == PlayContext.PLAYLIST else None
        if listener_id != self.listener or t0 - self.end_ms > SESSION_GAP_MS:
            self.close()
            self.listener, self.start_ms, self.started_at = listener_id, t0, played_at
            self.depth, self.run_depths, self.previous_key = 0, [], None
        self.end_ms = t0 + ms_played  # the session ends where its last play ends
        self.depth += 1
        if key is not None:
            if key == self.previous_key:
                self.run_depths[-1] += 1
            else:
                self.run_depths.append(1)
        self.previous_key = key

    def close(self) -> None:
        if self.started_at is None or not self.first_ms <= self.start_ms < self.last_ms:
            return
        totals = self.sessions[local_date(self.started_at)]
        totals[0] += 1
        totals[1] += self.end_ms - self.start_ms
        totals[2] += self.depth
        for depth in self.run_depths:
            self.runs[min(depth, MAX_RUN_DEPTH)] += 1
        if self.end_ms + SESSION_GAP_MS >= self.window_end_ms:
            self.cut_short = True


def _sessions(per_day: dict[date, list[int]], start, end, today, grain) -> KpiResult:
    rows = []
    for bucket, inside in series_buckets(start, end, grain, today):
        if not inside:
            rows.append(
                {"period": bucket.isoformat(), "sessions": None, "mean_length": None, "mean_depth": None}
            )
            continue
        n = sum(per_day.get(day, [0, 0, 0])[0] for day in inside)
        length = sum(per_day.get(day, [0, 0, 0])[1] for day in inside)
        depth = sum(per_day.get(day, [0, 0, 0])[2] for day in inside)
        rows.append(
            {
                "period": bucket.isoformat(),
                "sessions": n,
                "mean_length": length / n / MS_PER_MINUTE if n else None,
                "mean_depth": depth / n if n else None,
            }
        )
    return KpiResult(
        columns=[
            PERIOD,
            Column("sessions", "Sessions"),
            Column("mean_length", "Mean length (minutes)", "minutes"),
            Column("mean_depth", "Mean depth (plays)"),
        ],
        rows=rows,
    )


@kpi(
    slug="sessions",
    title="Sessions",
    family="engagement",
    unit="count",
    chart="line",
    x="period",
    y=("sessions",),
    filters=("country", "region", "grain"),
    headline="sessions",
)
def sessions(
    *, start: date, end: date, today: date, grain: str = "day", country=None, region=None
) -> KpiResult:
    """Sessions: a listener's plays in order, a new session starting after a break of more
    than 30 minutes between the end of one play and the start of the next. Counted on the
    day of their first play; length = last play's end - first start, depth = plays."""
    countries = country_scope(country, region)
    rows = SessionDay.objects.filter(day__gte=start, day__lt=end)
    if countries is not None:
        rows = rows.filter(country__in=countries)
    per_day = {
        row["day"]: [row["n"], row["length"], row["depth"]]
        for row in rows.values("day")
        .annotate(n=Sum("sessions"), length=Sum("length_ms"), depth=Sum("depth"))
        .order_by()
    }
    return _sessions(per_day, start, end, today, grain)


@reference("sessions")
def sessions_raw(
    *, start: date, end: date, today: date, grain: str = "day", country=None, region=None
) -> KpiResult:
    per_day, _ = _raw_sessions(start, end, country_scope(country, region))
    return _sessions(per_day, start, end, today, grain)


def _funnel(runs_by_depth: dict[int, int]) -> KpiResult:
    at_least = {
        k: sum(n for depth, n in runs_by_depth.items() if depth >= k) for k in range(1, FUNNEL_STEPS + 2)
    }
    total = at_least[1]
    rows = []
    for k in range(1, FUNNEL_STEPS + 1):
        share = at_least[k] / total if total else None
        following = at_least[k + 1] / total if total else None
        rows.append(
            {
                "depth": k,
                "runs": at_least[k],
                "funnel": share,
                "drop_off": 1 - following / share if share else None,
            }
        )
    return KpiResult(
        columns=[
            Column("depth", "Plays in the run (at least)", "text"),
            Column("runs", "Runs"),
            Column("funnel", "Share of runs", "ratio"),
            Column("drop_off", "Drop-off", "ratio"),
        ],
        rows=rows,
    )


@kpi(
    slug="playlist-funnel",
    title="Playlist listening funnel",
    family="engagement",
    unit="ratio",
    chart="bar",
    x="depth",
    y=("funnel",),
    filters=("country", "region"),
)
def playlist_funnel(*, start: date, end: date, today: date, country=None, region=None) -> KpiResult:
    """Funnel(k) = playlist runs with at least k plays / all runs; drop-off at k =
    1 - Funnel(k+1)/Funnel(k). A run is a maximal sequence of consecutive plays of one
    session from the same playlist; runs count on their session's day."""
    countries = country_scope(country, region)
    rows = PlaylistRunDay.objects.filter(day__gte=start, day__lt=end)
    if countries is not None:
        rows = rows.filter(country__in=countries)
    return _funnel(
        {row["depth"]: row["n"] for row in rows.values("depth").annotate(n=Sum("runs")).order_by()}
    )


@reference("playlist-funnel")
def playlist_funnel_raw(*, start: date, end: date, today: date, country=None, region=None) -> KpiResult:
    _, runs = _raw_sessions(start, end, country_scope(country, region))
    return _funnel(runs)

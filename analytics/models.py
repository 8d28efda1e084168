from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from billing.models import Listener
from catalog.models import Episode, Playlist, Track
from spotilytics.db import exactly_one_of

# Spotify's rule: a play of 30 seconds or more is a stream; a shorter one may be a skip.
STREAM_MIN_MS = 30_000


class Device(models.TextChoices):
    MOBILE = "mobile", "Mobile"
    DESKTOP = "desktop", "Desktop"
    WEB = "web", "Web player"
    TABLET = "tablet", "Tablet"
    SPEAKER = "speaker", "Smart speaker"
    CAR = "car", "Car"
    TV = "tv", "TV"


class PlayContext(models.TextChoices):
    ALBUM = "album", "Album"
    PLAYLIST = "playlist", "Playlist"
    ARTIST = "artist", "Artist page"
    SEARCH = "search", "Search"
    RADIO = "radio", "Radio / autoplay"
    LIBRARY = "library", "Library"


class ListeningEvent(models.Model):
    """One play start. Tens of millions of rows: written by COPY, read through rollups."""

    id = models.BigAutoField(primary_key=True)
    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="+", db_index=False)
    track = models.ForeignKey(
        Track, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    episode = models.ForeignKey(
        Episode, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    played_at = models.DateTimeField()
    ms_played = models.PositiveIntegerField()
    skipped = models.BooleanField(default=False)
    device = models.CharField(max_length=8, choices=Device.choices)
    context = models.CharField(max_length=8, choices=PlayContext.choices)
    playlist = models.ForeignKey(
        Playlist, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-played_at", "-id"]
        permissions = [("view_kpis", "Can view KPI pages, chart data and the KPI API")]
        indexes = [
            models.Index(fields=["played_at"], name="event_played_at"),
            models.Index(fields=["listener", "played_at"], name="event_listener_played_at"),
            models.Index(fields=["track", "played_at"], name="event_track_played_at"),
            models.Index(fields=["episode", "played_at"], name="event_episode_played_at"),
        ]
        constraints = [
            exactly_one_of("track", "episode", name="event_track_xor_episode"),
            models.CheckConstraint(condition=Q(ms_played__gte=0), name="event_ms_played_not_negative"),
            # The rollups number the devices; an unknown one would have no number.
            models.CheckConstraint(condition=Q(device__in=Device.values), name="event_device_known"),
            models.CheckConstraint(
                condition=Q(skipped=False) | Q(ms_played__lt=STREAM_MIN_MS),
                name="event_skip_under_30s",
            ),
            # A playlist is recorded exactly when the play came from a playlist.
            models.CheckConstraint(
                condition=Q(playlist__isnull=True) | Q(context=PlayContext.PLAYLIST),
                name="event_playlist_only_in_playlist_context",
            ),
        ]

    def __str__(self) -> str:
        return f"Play #{self.pk} at {self.played_at:%Y-%m-%d %H:%M}"

    @property
    def is_stream(self) -> bool:
        return self.ms_played >= STREAM_MIN_MS


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class Experiment(models.Model):
    key = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True)
                | Q(started_at__isnull=False, ended_at__gt=F("started_at")),
                name="experiment_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    is_control = models.BooleanField(default=False)
    weight = models.PositiveSmallIntegerField(
        default=50, validators=[MinValueValidator(1)], help_text="Planned share of assignments, relative."
    )

    class Meta:
        ordering = ["experiment", "-is_control", "key"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="variant_key_unique_per_experiment"),
            models.UniqueConstraint(
                fields=["experiment"], condition=Q(is_control=True), name="variant_one_control_per_experiment"
            ),
            models.CheckConstraint(condition=Q(weight__gte=1), name="variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment.key}: {self.name}"


class Assignment(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="assignments")
    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField()

    class Meta:
        ordering = ["-assigned_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "listener"], name="assignment_one_per_listener"),
        ]

    def __str__(self) -> str:
        return f"{self.listener_id} -> {self.variant}"


# Listening rollups. Filled only by `analytics.rollups.refresh` (the `refresh_rollups`
# command); KPI pages read these instead of scanning the raw events. Listener, genre and
# plan ids are plain integers, not foreign keys: a rollup row is a snapshot that the next
# refresh rewrites, and deleting a listener must not wait on millions of rollup rows.
# Days and months are local dates in the reporting time zone of the last refresh.
# Empty string / 0 in a dimension column means "all" (country, device) or "none" (plan:
# the free tier or no active subscription; genre: a podcast episode) as each table says.


class RollupState(models.Model):
    """Where a rollup module's last refresh stopped: one row per module.

    Events are detected by id (`last_event_id`), not by time, so events that arrive late
    for past days are still found. `max_ms_played` bounds how far back a session can
    reach; `active_through` is the last day whose rolling windows are stored.
    """

    module = models.CharField(max_length=40, primary_key=True)
    last_event_id = models.BigIntegerField(default=0)
    covered_until = models.DateTimeField(null=True, blank=True, help_text="The last played_at covered.")
    max_ms_played = models.BigIntegerField(default=0)
    first_day = models.DateField(null=True, blank=True)
    last_day = models.DateField(null=True, blank=True)
    active_through = models.DateField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    # Text, not a JSONField: the field's system check would ask SQLite for JSON support
    # before every management command, and this is only ever compared whole.
    sources_seen = models.TextField(
        blank=True,
        default="",
        help_text="The source tables' marks (`SourceVersion` and highest id) the last refresh read, as JSON.",
    )

    def __str__(self) -> str:
        return f"{self.module} up to event #{self.last_event_id}"


class SourceVersion(models.Model):
    """How many times rows of one source table were saved or deleted through Django
    (`analytics.rollups.sources`): a refresh that finds every table it reads as it left
    it skips the work those tables feed. One row per model label."""

    source = models.CharField(max_length=60, primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.source} v{self.version}"


class PreviousActivity(models.IntegerChoices):
    """Where a listener's previous active day lies, seen from an active day's month."""

    SAME_MONTH = 0, "Earlier this month"
    PREVIOUS_MONTH = 1, "Previous month"
    EARLIER = 2, "Before the previous month"
    NEVER = 3, "Never (first listening day)"


class SignupMonth(models.IntegerChoices):
    """When a listener signed up, seen from an active day's month."""

    THIS_MONTH = 0, "This month"
    BEFORE = 1, "Before this month"
    AFTER = 2, "After this month"


class ActivityDay(models.Model):
    """Grain: (day, country, gap, previous, signup): active listeners of the day, counted
    by how they were active before.

    `gap` = days since the listener's previous active day, 28 for 28 or more, 0 when it
    never played before (its first listening day). `previous` and `signup` place the
    previous active day and the sign-up relative to the day's calendar month. Exact rolling
    windows, MAU, lifecycle and new listeners all add up from these counts, so no per-
    listener rows are kept (with about one play per listener-day they would be as large
    as the events).
    """

    day = models.DateField()
    country = models.CharField(max_length=2)
    gap = models.PositiveSmallIntegerField()
    previous = models.PositiveSmallIntegerField(choices=PreviousActivity.choices)
    signup = models.PositiveSmallIntegerField(choices=SignupMonth.choices)
    listeners = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "country", "gap", "previous", "signup"], name="activityday_unique"
            ),
            models.CheckConstraint(condition=Q(gap__gte=0, gap__lte=28), name="activityday_gap_0_28"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.country} gap {self.gap}: {self.listeners}"


class CohortDay(models.Model):
    """Grain: (day, country, cohort): listeners whose first activity of the day's month falls
    on that day, by sign-up month (summed per month into `CohortActivity`)."""

    day = models.DateField()
    country = models.CharField(max_length=2)
    cohort = models.DateField()
    listeners = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "country", "cohort"], name="cohortday_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.country} cohort {self.cohort:%Y-%m}: {self.listeners}"


class ActiveListenersDay(models.Model):
    """Grain: (day, country, device): distinct active listeners on the day (DAU); for
    device "" (all devices) also over `[day-6, day]` (WAU), over `[day-27, day]` (R28) and
    the listeners whose first listening day it is (`new`).

    `country = ""` rows hold the all-countries totals (a listener has one country, so the
    per-country rows add up to them). Per-device rows hold DAU only: a listener uses
    several devices, and rolling windows per device are not kept.
    """

    day = models.DateField()
    country = models.CharField(max_length=2, blank=True)
    device = models.CharField(max_length=8, blank=True)
    dau = models.PositiveIntegerField()
    wau = models.PositiveIntegerField(null=True)
    r28 = models.PositiveIntegerField(null=True)
    new = models.PositiveIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "country", "device"], name="activelistenersday_unique")
        ]
        indexes = [models.Index(fields=["device", "country", "day"], name="activeday_device_country_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.country or 'all'} {self.device or 'all'}: {self.dau}"


class ActivityMonth(models.Model):
    """Grain: (month, country): calendar MAU and the lifecycle of the month's listeners:
    new (signed up in the month), returning (also active the month before, not new),
    resurrecting (not active the month before, signed up before the month) and `both`
    (active in the month and the month before, new ones included: dormant(m) =
    MAU(m-1) - both(m))."""

    month = models.DateField()
    country = models.CharField(max_length=2)
    mau = models.PositiveIntegerField()
    new = models.PositiveIntegerField()
    returning = models.PositiveIntegerField()
    resurrecting = models.PositiveIntegerField()
    both = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "country"], name="activitymonth_unique")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.country}: {self.mau}"


class CohortSize(models.Model):
    """Grain: (signup month, country): listeners who signed up in the month."""

    cohort = models.DateField()
    country = models.CharField(max_length=2)
    listeners = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cohort", "country"], name="cohortsize_unique")]

    def __str__(self) -> str:
        return f"Cohort {self.cohort:%Y-%m} {self.country}: {self.listeners}"


class CohortActivity(models.Model):
    """Grain: (signup month, activity month, country): listeners of the cohort with an
    event in the activity month."""

    cohort = models.DateField()
    month = models.DateField()
    country = models.CharField(max_length=2)
    listeners = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cohort", "month", "country"], name="cohortactivity_unique")
        ]
        indexes = [models.Index(fields=["month"], name="cohortactivity_month")]

    def __str__(self) -> str:
        return f"Cohort {self.cohort:%Y-%m} in {self.month:%Y-%m} {self.country}: {self.listeners}"


class ListeningDay(models.Model):
    """Grain: (day, grouping, country, device, plan, genre, hour): events, streams, skips
    and milliseconds played, summed over every dimension *not* in `grouping`.

    `grouping` is a bit set of the dimensions kept (see `analytics.rollups.Dim`); the other
    dimension columns hold "" / 0. Only some groupings are stored (every set of at most
    two dimensions, and all four but the hour together), so a query reads the smallest
    stored grouping that holds every dimension it groups or filters by. `plan_id = 0` is the free tier or no
    active subscription at `played_at`; `genre_id = 0` a podcast episode; `hour` the local
    hour of `played_at`.
    """

    day = models.DateField()
    grouping = models.PositiveSmallIntegerField()
    country = models.CharField(max_length=2, blank=True)
    device = models.CharField(max_length=8, blank=True)
    plan_id = models.BigIntegerField()
    genre_id = models.BigIntegerField()
    hour = models.PositiveSmallIntegerField()
    events = models.PositiveIntegerField()
    streams = models.PositiveIntegerField()
    skips = models.PositiveIntegerField()
    ms_played = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grouping", "day", "country", "device", "plan_id", "genre_id", "hour"],
                name="listeningday_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} grouping {self.grouping}: {self.events} events"


class SessionDay(models.Model):
    """Grain: (day, country): listening sessions attributed to the local day of their first
    event (a session crossing midnight counts on the day it started, with its whole length
    and depth). `length_ms` and `depth` are sums over the sessions."""

    day = models.DateField()
    country = models.CharField(max_length=2)
    sessions = models.PositiveIntegerField()
    length_ms = models.BigIntegerField()
    depth = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "country"], name="sessionday_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.country}: {self.sessions} sessions"


class PlaylistRunDay(models.Model):
    """Grain: (day, country, depth): playlist runs of the sessions started that day, by run
    depth; depth 11 holds every run of 11 events or more (the funnel stops at 10)."""

    day = models.DateField()
    country = models.CharField(max_length=2)
    depth = models.PositiveSmallIntegerField()
    runs = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "country", "depth"], name="playlistrunday_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.country} depth {self.depth}: {self.runs}"

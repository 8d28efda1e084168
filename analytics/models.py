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

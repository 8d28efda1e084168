from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django_countries.fields import CountryField

from billing.models import Listener
from spotilytics.db import exactly_one_of

_UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]


def _unit_interval(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0, f"{field}__lte": 1}),
        name=f"track_{field}_0_1",
    )


class Genre(models.Model):
    name = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Artist(models.Model):
    name = models.CharField(max_length=200, db_index=True)
    country = CountryField(blank=True)
    genres = models.ManyToManyField(Genre, blank=True, related_name="artists")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class AlbumType(models.TextChoices):
    SINGLE = "single", "Single"
    EP = "ep", "EP"
    ALBUM = "album", "Album"
    COMPILATION = "compilation", "Compilation"


class Album(models.Model):
    title = models.CharField(max_length=200, db_index=True)
    artist = models.ForeignKey(Artist, on_delete=models.PROTECT, related_name="albums")
    release_date = models.DateField(null=True, blank=True)
    album_type = models.CharField(max_length=12, choices=AlbumType.choices, default=AlbumType.ALBUM)
    label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-release_date", "id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.artist.name})"


class Track(models.Model):
    title = models.CharField(max_length=300, db_index=True)
    album = models.ForeignKey(Album, on_delete=models.PROTECT, related_name="tracks")
    primary_artist = models.ForeignKey(Artist, on_delete=models.PROTECT, related_name="tracks")
    featured_artists = models.ManyToManyField(Artist, blank=True, related_name="featured_on")
    genre = models.ForeignKey(Genre, on_delete=models.PROTECT, related_name="tracks")
    duration_ms = models.PositiveIntegerField()
    explicit = models.BooleanField(default=False)
    isrc = models.CharField("ISRC", max_length=12, unique=True, null=True, blank=True)
    external_id = models.CharField(
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text="Identifier in an imported dataset, e.g. a Spotify track id.",
    )
    popularity = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    # Audio features, as Spotify's audio-features API reports them.
    danceability = models.FloatField(null=True, blank=True, validators=_UNIT)
    energy = models.FloatField(null=True, blank=True, validators=_UNIT)
    valence = models.FloatField(null=True, blank=True, validators=_UNIT)
    acousticness = models.FloatField(null=True, blank=True, validators=_UNIT)
    speechiness = models.FloatField(null=True, blank=True, validators=_UNIT)
    instrumentalness = models.FloatField(null=True, blank=True, validators=_UNIT)
    liveness = models.FloatField(null=True, blank=True, validators=_UNIT)
    tempo = models.FloatField("tempo (BPM)", null=True, blank=True, validators=[MinValueValidator(0.0)])
    loudness = models.FloatField("loudness (dB)", null=True, blank=True)
    key = models.SmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-1), MaxValueValidator(11)],
        help_text="Pitch class 0-11; -1 when no key was detected.",
    )
    mode = models.SmallIntegerField(null=True, blank=True, choices=[(0, "Minor"), (1, "Major")])

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(duration_ms__gt=0), name="track_duration_positive"),
            models.CheckConstraint(
                condition=Q(popularity__gte=0, popularity__lte=100), name="track_popularity_0_100"
            ),
            *(
                _unit_interval(name)
                for name in (
                    "danceability",
                    "energy",
                    "valence",
                    "acousticness",
                    "speechiness",
                    "instrumentalness",
                    "liveness",
                )
            ),
            models.CheckConstraint(
                condition=Q(key__isnull=True) | Q(key__gte=-1, key__lte=11), name="track_key_pitch_class"
            ),
            models.CheckConstraint(
                condition=Q(mode__isnull=True) | Q(mode__in=[0, 1]), name="track_mode_minor_major"
            ),
            models.CheckConstraint(
                condition=Q(tempo__isnull=True) | Q(tempo__gte=0), name="track_tempo_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def duration_label(self) -> str:
        minutes, seconds = divmod(self.duration_ms // 1000, 60)
        return f"{minutes}:{seconds:02d}"


class Podcast(models.Model):
    title = models.CharField(max_length=200, db_index=True)
    host = models.CharField(max_length=200)
    publisher = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=80, db_index=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title


class Episode(models.Model):
    podcast = models.ForeignKey(Podcast, on_delete=models.CASCADE, related_name="episodes")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    release_date = models.DateField()
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["podcast", "number"]
        constraints = [
            models.UniqueConstraint(fields=["podcast", "number"], name="episode_number_unique_per_podcast"),
            models.CheckConstraint(condition=Q(number__gte=1), name="episode_number_from_one"),
            models.CheckConstraint(condition=Q(duration_ms__gt=0), name="episode_duration_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.podcast.title} #{self.number}: {self.title}"


class ContentKind(models.TextChoices):
    TRACK = "track", "Tracks"
    PODCAST = "podcast", "Podcast episodes"


class Playlist(models.Model):
    """A listener's playlist, or an editorial one when it has no owner."""

    owner = models.ForeignKey(
        Listener,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="playlists",
        help_text="Empty for editorial playlists.",
    )
    title = models.CharField(max_length=200)
    is_public = models.BooleanField(default=True)
    content_kind = models.CharField(max_length=8, choices=ContentKind.choices, default=ContentKind.TRACK)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_editorial(self) -> bool:
        return self.owner_id is None


class PlaylistItem(models.Model):
    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    track = models.ForeignKey(Track, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    added_at = models.DateTimeField()

    class Meta:
        ordering = ["playlist", "position"]
        constraints = [
            models.UniqueConstraint(fields=["playlist", "position"], name="playlist_item_unique_position"),
            exactly_one_of("track", "episode", name="playlist_item_track_xor_episode"),
        ]

    def __str__(self) -> str:
        return f"{self.playlist.title} #{self.position}"


class Follow(models.Model):
    """A listener following an artist over `[followed_at, unfollowed_at)`."""

    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="follows")
    artist = models.ForeignKey(Artist, on_delete=models.CASCADE, related_name="follows")
    followed_at = models.DateTimeField()
    unfollowed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-followed_at", "-id"]
        indexes = [models.Index(fields=["artist", "followed_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["listener", "artist"],
                condition=Q(unfollowed_at__isnull=True),
                name="follow_one_open_per_listener_artist",
                violation_error_message="This listener already follows this artist.",
            ),
            models.CheckConstraint(
                condition=Q(unfollowed_at__isnull=True) | Q(unfollowed_at__gt=F("followed_at")),
                name="follow_unfollow_after_follow",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.listener.display_name} follows {self.artist.name}"


class Rating(models.Model):
    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="ratings")
    track = models.ForeignKey(Track, on_delete=models.CASCADE, null=True, blank=True, related_name="ratings")
    episode = models.ForeignKey(
        Episode, on_delete=models.CASCADE, null=True, blank=True, related_name="ratings"
    )
    score = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    review = models.TextField(blank=True)
    rated_at = models.DateTimeField()

    class Meta:
        ordering = ["-rated_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="rating_score_1_5"),
            exactly_one_of("track", "episode", name="rating_track_xor_episode"),
            models.UniqueConstraint(
                fields=["listener", "track"],
                condition=Q(track__isnull=False),
                name="rating_one_per_listener_track",
            ),
            models.UniqueConstraint(
                fields=["listener", "episode"],
                condition=Q(episode__isnull=False),
                name="rating_one_per_listener_episode",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.score}/5 by {self.listener.display_name}"

    @property
    def item(self) -> Track | Episode:
        return self.track or self.episode

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django_countries.fields import CountryField

from billing.models import Listener
from spotilytics.db import ChangeTrackedQuerySet, exactly_one_of

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

    objects = ChangeTrackedQuerySet.as_manager()

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

    objects = ChangeTrackedQuerySet.as_manager()

    class Meta:
        ordering = ["-followed_at", "-id"]
        indexes = [
            models.Index(fields=["artist", "followed_at"]),
            # The follows and unfollows made after an instant (artist followers as of it).
            models.Index(fields=["followed_at"], name="follow_followed_at"),
            models.Index(
                fields=["unfollowed_at"],
                condition=Q(unfollowed_at__isnull=False),
                name="follow_unfollowed_at",
            ),
        ]
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

    objects = ChangeTrackedQuerySet.as_manager()

    class Meta:
        ordering = ["-rated_at", "-id"]
        # The ratings made after an instant (top-rated as of it).
        indexes = [models.Index(fields=["rated_at"], name="rating_rated_at")]
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


# Content rollups: counts pre-aggregated from `analytics.ListeningEvent` (and sign-ups
# from `billing.Listener`) by `catalog.rollups.refresh`, so content and geography pages
# never scan the event table. Only streams (events of 30 s or more) are counted, which
# keeps the tables small. A count table holds two grains: a row per local day and a row
# per calendar month (the sum of that month's day rows). A range reads month rows for
# its whole months and day rows for the partial months at its edges (`rollups.Span`).
# Attributes a row is grouped by (a listener's country, a track's genre, artist or
# album) are those of the refresh: a later catalog edit shows after `--full`.
# The tables a full rebuild reloads (`rollups._REBUILT`) have foreign keys without a
# database constraint (`db_constraint=False`): their rows are derived from constrained
# tables and deleted with their track, listener... by Django's cascade, while a
# constraint would cost a check per inserted row, and dropping it for a bulk rebuild
# would lock the referenced tables (listeners, tracks) against every read. The small
# rating and follower totals, rewritten by DELETE and INSERT, keep their constraints.


class RollupGrain(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


# Rankings read a period's leaders off month rows only: their "top" indexes leave out
# the day rows, most of each table, which a refresh then writes through one index less
# (and a full rebuild builds in a third of the time). The grain is no column of them:
# PostgreSQL drops a condition the index's own implies, and a leading grain column
# would then be scanned from its start.
_MONTH_ROWS = Q(grain=RollupGrain.MONTH)
# The other indexes of the large tables put the grain last: only a month row and the day
# row of the 1st share a period, so sorting on the period first rarely compares the
# grain's text (the per-track-country key builds in 9.5 s instead of 13.6 s at 10M
# events).
# The four largest tables (tracks, tracks by country, artists, albums) are keyed by
# their grain's columns, a composite primary key, with no identity column: every row a
# daily refresh inserts or moves then goes through one index less (a third less time
# for the per-track-country rows at 10M events). Django's admin cannot show such a
# table, so they have no admin pages; the smaller count tables keep theirs.


class _StreamCount(models.Model):
    grain = models.CharField(max_length=5, choices=RollupGrain.choices)
    period = models.DateField(help_text="The day, or the first day of the month.")
    streams = models.PositiveIntegerField()

    class Meta:
        abstract = True


class TrackStreams(_StreamCount):
    """Streams of a track, all listeners. Grain: (grain, period, track).

    The (period, streams) index of month rows lets a top-N read a month's leaders first.
    """

    # No index of its own: readers find rows by period first (the primary key), and
    # only deleting a track looks its rows up by track alone. Every refresh paid to
    # keep one.
    track = models.ForeignKey(
        Track, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )

    pk = models.CompositePrimaryKey("period", "track", "grain")

    class Meta:
        verbose_name_plural = "track streams"
        indexes = [
            models.Index(
                fields=["period", "-streams", "track"], name="trackstreams_top", condition=_MONTH_ROWS
            )
        ]

    def __str__(self) -> str:
        return f"{self.track_id} {self.grain} {self.period}: {self.streams}"


class TrackCountryStreams(_StreamCount):
    """Streams of a track by listeners of one country. Grain: (grain, period, country,
    track). Serves track rankings filtered by country or region: the month rows' index
    leads with the country, so such a page reads its countries' leaders only, and the
    primary key finds a country's day rows by (period, country), and a few tracks' rows
    (a pruned ranking's candidates) by (period, country, track)."""

    country = models.CharField(max_length=2)
    # No index of its own, as `TrackStreams.track`. One led by the track, for the pruned
    # rankings' candidates, made no filtered ranking faster at 10M events, and took more
    # than half of this table's writes in a daily refresh (random pages of a 155 MB
    # index). Deleting a track scans this table instead (0.7 s at 8.6M rows).
    track = models.ForeignKey(
        Track, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )

    pk = models.CompositePrimaryKey("period", "country", "track", "grain")

    class Meta:
        verbose_name_plural = "track streams by country"
        indexes = [
            models.Index(
                fields=["country", "period", "-streams"],
                name="trackcountrystreams_top",
                condition=_MONTH_ROWS,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.track_id} {self.country} {self.grain} {self.period}: {self.streams}"


class ArtistStreams(_StreamCount):
    """Streams of the tracks an artist is the primary artist of. Grain: (grain, period,
    artist). Featured appearances are not counted."""

    # No index of its own, as `TrackStreams.track`.
    artist = models.ForeignKey(
        Artist, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )

    pk = models.CompositePrimaryKey("period", "artist", "grain")

    class Meta:
        verbose_name_plural = "artist streams"
        indexes = [
            models.Index(
                fields=["period", "-streams", "artist"], name="artiststreams_top", condition=_MONTH_ROWS
            )
        ]

    def __str__(self) -> str:
        return f"{self.artist_id} {self.grain} {self.period}: {self.streams}"


class AlbumStreams(_StreamCount):
    """Streams of an album's tracks. Grain: (grain, period, album)."""

    # No index of its own, as `TrackStreams.track`.
    album = models.ForeignKey(
        Album, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )

    pk = models.CompositePrimaryKey("period", "album", "grain")

    class Meta:
        verbose_name_plural = "album streams"
        indexes = [
            models.Index(
                fields=["period", "-streams", "album"], name="albumstreams_top", condition=_MONTH_ROWS
            )
        ]

    def __str__(self) -> str:
        return f"{self.album_id} {self.grain} {self.period}: {self.streams}"


class GenreCountryStreams(_StreamCount):
    """Track streams per genre and listener country. Grain: (grain, period, country,
    genre). Serves top genres and genre share by country."""

    country = models.CharField(max_length=2)
    genre = models.ForeignKey(Genre, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        verbose_name_plural = "genre streams by country"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "country", "genre"], name="genrecountrystreams_unique_grain"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.genre_id} {self.country} {self.grain} {self.period}: {self.streams}"


class PodcastRegionStreams(_StreamCount):
    """Episode streams per podcast and listener region (`billing.regions`). Grain:
    (grain, period, region, podcast): what podcast pages read without a device filter."""

    region = models.CharField(max_length=16)
    podcast = models.ForeignKey(Podcast, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        verbose_name_plural = "podcast streams by region"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "region", "podcast"], name="podcastregionstreams_unique_grain"
            ),
        ]
        # Covers the page's query: its sums come from the index alone.
        indexes = [
            models.Index(
                fields=["grain", "period", "region", "podcast", "streams"], name="podcastregionstreams_sums"
            )
        ]

    def __str__(self) -> str:
        return f"{self.podcast_id} {self.region} {self.grain} {self.period}: {self.streams}"


class PodcastDeviceStreams(_StreamCount):
    """Episode streams per podcast, listener region and device. Grain: (grain, period,
    device, region, podcast): what podcast pages read with a device filter."""

    device = models.CharField(max_length=8)
    region = models.CharField(max_length=16)
    podcast = models.ForeignKey(Podcast, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        verbose_name_plural = "podcast streams by device"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "device", "region", "podcast"],
                name="podcastdevicestreams_unique_grain",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.podcast_id} {self.device} {self.region} {self.grain} {self.period}: {self.streams}"


class CountryStreams(_StreamCount):
    """All streams (tracks and episodes) per listener country. Grain: (grain, period,
    country)."""

    country = models.CharField(max_length=2)

    class Meta:
        verbose_name_plural = "streams by country"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "country"], name="countrystreams_unique_grain"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.grain} {self.period}: {self.streams}"


class CountrySignups(models.Model):
    """Listeners who signed up, per country. Grain: (grain, period, country); listeners
    signed up by a day's start are the month rows before its month plus the day rows of
    its month before it."""

    grain = models.CharField(max_length=5, choices=RollupGrain.choices)
    period = models.DateField()
    country = models.CharField(max_length=2)
    signups = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "sign-ups by country"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "country"], name="countrysignups_unique_grain"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.grain} {self.period}: {self.signups}"


class CountryListeners(models.Model):
    """The listeners of a country who played anything (of any length) in a local day or
    a calendar month, as a Roaring bitmap of their ids. Grain: (grain, period, country).

    Distinct listeners over any day range are the size of the union of the bitmaps of
    the range's rows (`rollups.Span`): exact, and read from a few rows per country
    however many listeners there are. A listener counts in the country recorded on the
    listener when the day was refreshed.
    """

    grain = models.CharField(max_length=5, choices=RollupGrain.choices)
    period = models.DateField(help_text="The day, or the first day of the month.")
    country = models.CharField(max_length=2)
    listeners = models.PositiveIntegerField(help_text="How many ids the bitmap holds.")
    bitmap = models.BinaryField(help_text="The listener ids, as a serialized Roaring bitmap.")

    class Meta:
        verbose_name_plural = "listeners by country"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "country"], name="countrylisteners_unique_grain"
            ),
            models.CheckConstraint(condition=Q(listeners__gt=0), name="countrylisteners_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.grain} {self.period}: {self.listeners}"


class ContentRollupWatermark(models.Model):
    """How far `catalog.rollups.refresh` got: the last local day it refreshed and the
    highest event and listener ids it had seen, so rows loaded later with older dates
    (a backfill, an import) are noticed by the next incremental run."""

    key = models.CharField(max_length=40, unique=True)
    through = models.DateField()
    max_event_id = models.BigIntegerField(default=0)
    max_listener_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} through {self.through}"


class TrackRatings(models.Model):
    """Every rating of a track summed, as of the last content refresh. Top-rated takes
    away the few ratings made after its instant instead of summing every rating per call.
    `genre` is the track's genre at the refresh."""

    track = models.OneToOneField(Track, on_delete=models.CASCADE, primary_key=True, related_name="+")
    genre = models.ForeignKey(Genre, on_delete=models.CASCADE, related_name="+")
    votes = models.PositiveIntegerField()
    total = models.PositiveIntegerField(help_text="Sum of the scores.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(votes__gt=0, total__gte=F("votes"), total__lte=5 * F("votes")),
                name="track_ratings_scores_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"track {self.track_id}: {self.votes} ratings"


class ArtistFollowers(models.Model):
    """Open follows (not unfollowed) per artist, as of the last content refresh.
    Artist followers takes away or adds back the follows and unfollows made after its
    instant instead of counting every follow per call."""

    artist = models.OneToOneField(Artist, on_delete=models.CASCADE, primary_key=True, related_name="+")
    followers = models.PositiveIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(followers__gt=0), name="artist_followers_positive")]

    def __str__(self) -> str:
        return f"artist {self.artist_id}: {self.followers} followers"

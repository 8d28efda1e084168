"""Import and export of artists, albums, tracks, podcasts and episodes.

Tracks import from our own export and from public catalog layouts (the Spotify Tracks
Dataset and others, see `TRACK_ALIASES`) without editing the file. Artists, albums and
genres a track names are found by name (any case) or created in the same import.

Tracks are matched by ISRC, else by the dataset's track id (`Track.external_id`), else
by title and primary artist, so importing the same file again creates nothing new.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any, ClassVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet

from catalog.models import Album, AlbumType, Artist, Episode, Genre, Podcast, Track
from spotilytics.importing.headers import COMMA_LIST, PERCENT, SECONDS, Alias, HeaderMap, normalize
from spotilytics.importing.problems import Problem
from spotilytics.importing.resources import (
    LINE,
    BooleanWidget,
    ChoiceWidget,
    DateWidget,
    FloatWidget,
    IntegerWidget,
    OptionalKeyWidget,
    SpotilyticsResource,
    TextWidget,
    UpperTextWidget,
    _text,
    column,
    split_names,
)

# Genre of tracks whose file names none (several public layouts have no genre column).
UNKNOWN_GENRE = "Unknown"
_FEATURES = (
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "speechiness",
    "instrumentalness",
    "liveness",
)
_PITCH_CLASSES = {
    "C": 0,
    "B#": 0,
    "C#": 1,
    "DB": 1,
    "D": 2,
    "D#": 3,
    "EB": 3,
    "E": 4,
    "FB": 4,
    "F": 5,
    "E#": 5,
}
_PITCH_CLASSES |= {"F#": 6, "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11, "CB": 11}


def _aliases(table: dict[str, tuple[str, ...]], scale: str | None = None) -> dict[str, Alias]:
    return {normalize(name): Alias(target, scale) for target, names in table.items() for name in names}


# Public layouts: the Spotify Tracks Dataset (track_id, artists, album_name, track_name,
# track_genre, ...), Top Spotify Songs 2023 (artist(s)_name, released_year, bpm,
# danceability_%, ...), Top Spotify songs 2010-2019 (title, artist, top genre, year,
# bpm, nrgy, dnce, dB, live, val, dur, acous, spch, pop) and the Spotify 1.2M songs and
# 1921-2020 datasets (id, name, artists as a list, album, release_date, year).
TRACK_ALIASES: dict[str, Alias] = {
    **_aliases(
        {
            "title": ("track_name", "name", "track", "track_title", "song", "song_name", "song_title"),
            "artists": ("artist", "artist_name", "artist_names", "track_artist", "performer"),
            "album": ("album_name", "album_title", "record"),
            "genre": ("top genre", "track_genre", "genres", "top_genre", "playlist_genre"),
            "release_date": ("album_release_date", "released", "release"),
            "year": ("released_year", "release_year"),
            "month": ("released_month", "release_month"),
            "day": ("released_day", "release_day"),
            "duration_ms": ("duration (ms)", "durationms", "length_ms"),
            "explicit": ("is_explicit",),
            "external_id": ("track_id", "id", "spotify_id", "spotify_track_id", "track_uri", "uri"),
            "popularity": ("pop", "track_popularity"),
            "tempo": ("bpm",),
            "loudness": ("db", "loudness_db", "loudness (db)"),
            "key": ("musical_key", "pitch"),
        }
    ),
    **_aliases({"artists": ("artist(s)_name", "artists_name")}, COMMA_LIST),
    **_aliases(
        {"duration_ms": ("dur", "duration_s", "duration_sec", "duration_seconds", "duration")}, SECONDS
    ),
    **_aliases(
        {
            "danceability": ("dnce",),
            "energy": ("nrgy",),
            "valence": ("val",),
            "liveness": ("live",),
            "acousticness": ("acous",),
            "speechiness": ("spch",),
        },
        PERCENT,
    ),
}


class DurationWidget(IntegerWidget):
    """Milliseconds, or m:ss / h:mm:ss as people write track lengths."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> int | None:
        text = _text(value)
        if ":" in text:
            parts = text.split(":")
            if all(part.strip().isdigit() for part in parts) and len(parts) <= 3:
                seconds = 0
                for part in parts:
                    seconds = seconds * 60 + int(part)
                return seconds * 1000
            raise ValueError(f"{text!r} is not a duration; write milliseconds or m:ss, for example 3:45")
        return super().clean(value, row, **kwargs)


class KeyWidget(IntegerWidget):
    """A pitch class 0-11 (-1 unknown), or a note name such as C# or Eb."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> int | None:
        text = _text(value).upper().replace("♯", "#").replace("♭", "B")
        if text in _PITCH_CLASSES:
            return _PITCH_CLASSES[text]
        try:
            return super().clean(value, row, **kwargs)
        except ValueError:
            raise ValueError(
                f"{_text(value)!r} is not a key; write 0-11 or a note such as C# or Eb"
            ) from None


class ModeWidget(IntegerWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> int | None:
        text = _text(value).lower()
        if text in ("major", "minor"):
            return 1 if text == "major" else 0
        try:
            return super().clean(value, row, **kwargs)
        except ValueError:
            raise ValueError(f"{_text(value)!r} is not a mode; write 1 or major, 0 or minor") from None


class _NamedObjects:
    """Artists, albums and genres found by name (any case) or created, once per import."""

    def __init__(self) -> None:
        self.created: Counter[str] = Counter()
        self.clear()

    def clear(self) -> None:
        self.artists: dict[str, Artist] = {}
        self.genres: dict[str, Genre] = {}
        self.albums: dict[tuple[str, int], Album] = {}

    def artist(self, name: str) -> Artist:
        key = name.lower()
        if key not in self.artists:
            found = Artist.objects.filter(name__iexact=name).order_by("id").first()
            if found is None:
                found = Artist.objects.create(name=name)
                self.created["artists"] += 1
            self.artists[key] = found
        return self.artists[key]

    def genre(self, name: str) -> Genre:
        key = name.lower()
        if key not in self.genres:
            found = Genre.objects.filter(name__iexact=name).order_by("id").first()
            if found is None:
                found = Genre.objects.create(name=name)
                self.created["genres"] += 1
            self.genres[key] = found
        return self.genres[key]

    def album(self, title: str, artist: Artist, *, release_date: date | None, single: bool) -> Album:
        key = (title.lower(), artist.pk)
        if key not in self.albums:
            found = Album.objects.filter(title__iexact=title, artist=artist).order_by("id").first()
            if found is None:
                found = Album.objects.create(
                    title=title,
                    artist=artist,
                    release_date=release_date,
                    album_type=AlbumType.SINGLE if single else AlbumType.ALBUM,
                )
                self.created["albums"] += 1
            self.albums[key] = found
        album = self.albums[key]
        if release_date and album.release_date is None:
            album.release_date = release_date
            album.save(update_fields=["release_date"])
        return album


def _check_length(errors: dict, key: str, name: str, limit: int, what: str) -> bool:
    if len(name) > limit:
        errors.setdefault(key, []).append(f"the {what} is longer than {limit} characters")
        return False
    return True


class TrackResource(SpotilyticsResource):
    title = column("title", TextWidget())
    artists = column("artists", TextWidget(), attribute="", readonly=True)
    album = column("album", TextWidget(), attribute="", readonly=True)
    release_date = column("release_date", DateWidget(partial=True), attribute="", readonly=True)
    genre = column("genre", TextWidget(), attribute="", readonly=True)
    duration_ms = column("duration_ms", DurationWidget())
    explicit = column("explicit", BooleanWidget(), default=False)
    isrc = column("isrc", OptionalKeyWidget(upper=True))
    external_id = column("external_id", OptionalKeyWidget())
    popularity = column("popularity", IntegerWidget(), default=0)
    danceability = column("danceability", FloatWidget())
    energy = column("energy", FloatWidget())
    valence = column("valence", FloatWidget())
    acousticness = column("acousticness", FloatWidget())
    speechiness = column("speechiness", FloatWidget())
    instrumentalness = column("instrumentalness", FloatWidget())
    liveness = column("liveness", FloatWidget())
    tempo = column("tempo", FloatWidget())
    loudness = column("loudness", FloatWidget())
    key = column("key", KeyWidget())
    mode = column("mode", ModeWidget())

    aliases = TRACK_ALIASES
    required_columns = ("title", "artists")
    extra_import_columns = ("year", "month", "day")
    export_select_related = ("album", "primary_artist", "genre")
    export_prefetch_related = ("featured_artists",)

    class Meta:
        model = Track
        name = "Tracks"
        fields = (
            "title",
            "artists",
            "album",
            "release_date",
            "genre",
            "duration_ms",
            "explicit",
            "isrc",
            "external_id",
            "popularity",
            *_FEATURES,
            "tempo",
            "loudness",
            "key",
            "mode",
        )
        import_id_fields = ("isrc",)

    def __init__(self, *, default_duration_ms: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_duration_ms = default_duration_ms
        self.named = _NamedObjects()
        self._seen_tracks: dict[tuple, tuple[int, tuple]] = {}
        self._skip_reason: str | None = None
        self._featured: list[Artist] = []
        self._known: dict[tuple[str, str], Track] = {}

    # --- export ----------------------------------------------------------------------

    def dehydrate_artists(self, track: Track) -> str:
        featured = sorted(track.featured_artists.all(), key=lambda artist: artist.pk)
        return ";".join(artist.name for artist in [track.primary_artist, *featured])

    def dehydrate_album(self, track: Track) -> str:
        return track.album.title

    def dehydrate_release_date(self, track: Track) -> date | None:
        return track.album.release_date

    def dehydrate_genre(self, track: Track) -> str:
        return track.genre.name

    # --- import ----------------------------------------------------------------------

    def header_problems(self, header_map: HeaderMap) -> list[Problem]:
        problems = super().header_problems(header_map)
        if "duration_ms" not in header_map.indexes and not self.default_duration_ms:
            problems.append(
                Problem(
                    "the file has no duration column (duration_ms, duration, dur or duration_s). "
                    "Every track needs its length: add the column, or give a duration for the "
                    "file's tracks ('Duration when the file has none' on the import form, "
                    "--default-duration-ms for import_catalog)."
                )
            )
        return problems

    def related_created(self) -> dict[str, int]:
        return dict(self.named.created)

    def reset_caches(self) -> None:
        super().reset_caches()
        self.named.clear()

    def before_import_row(self, row: dict, **kwargs: Any) -> None:
        self._skip_reason = None
        title, names = _text(row.get("title")), split_names(row.get("artists"))
        if not title and not names:
            self._skip_reason = "empty"  # a row with neither title nor artist says nothing
            return
        key = self._file_key(row, title, names)
        if key is None:
            return
        signature = (title.lower(), tuple(name.lower() for name in names[:1]))
        line = row.get(LINE)
        first_line, first_signature = self._seen_tracks.setdefault(key, (line, signature))
        if first_line == line:
            return
        if first_signature == signature:
            # The Spotify Tracks Dataset lists a track once per genre it belongs to; a
            # track has one genre here, the first one listed.
            self._skip_reason = "repeat"
            return
        raise ValidationError(
            {
                key[0]: (
                    f"{key[1]!r} is already used on line {first_line} for another track; "
                    "a track id or ISRC may identify only one track"
                )
            }
        )

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        # One query per chunk finds the tracks its identifiers already name, instead of
        # one query per row (a public dataset has 100,000 rows and more).
        self._known = {}
        for name in ("isrc", "external_id"):
            if name not in dataset.headers:
                continue
            values = {_text(value).upper() if name == "isrc" else _text(value) for value in dataset[name]}
            values.discard("")
            for track in Track.objects.filter(**{f"{name}__in": values}):
                self._known[(name, getattr(track, name))] = track

    def after_save_instance(self, instance: Track, row: dict, **kwargs: Any) -> None:
        for name in ("isrc", "external_id"):
            if getattr(instance, name):
                self._known[(name, getattr(instance, name))] = instance

    def _file_key(self, row: dict, title: str, names: list[str]) -> tuple | None:
        for name in ("isrc", "external_id"):
            value = _text(row.get(name))
            if value:
                return (name, value.upper() if name == "isrc" else value)
        return None

    def get_instance(self, instance_loader: Any, row: dict) -> Track | None:
        if self._skip_reason == "empty":
            return None
        isrc, external_id = _text(row.get("isrc")).upper(), _text(row.get("external_id"))
        if isrc or external_id:
            return self._known.get(("isrc", isrc)) or self._known.get(("external_id", external_id))
        names = split_names(row.get("artists"))
        title = _text(row.get("title"))
        if not title or not names:
            return None
        return (
            Track.objects.filter(title__iexact=title, primary_artist__name__iexact=names[0])
            .order_by("id")
            .first()
        )

    def import_instance(self, instance: Track, row: dict, **kwargs: Any) -> None:
        if self._skip_reason:
            return
        errors: dict[str, list] = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = {key: list(value) for key, value in exc.update_error_dict({}).items()}
        if instance.duration_ms is None and "duration_ms" not in errors:
            if self.default_duration_ms:
                instance.duration_ms = self.default_duration_ms
            else:
                errors["duration_ms"] = ["the track has no duration"]
        if not instance.title and "title" not in errors:
            errors["title"] = ["the track has no title"]
        self._import_relations(instance, row, errors)
        if errors:
            raise ValidationError(errors)

    def _import_relations(self, instance: Track, row: dict, errors: dict) -> None:
        names = split_names(row.get("artists"))
        if not names:
            errors.setdefault("artists", []).append("the track has no artist")
            return
        if not all(_check_length(errors, "artists", name, 200, "artist name") for name in names):
            return
        primary = self.named.artist(names[0])
        instance.primary_artist = primary
        self._featured = [self.named.artist(name) for name in dict.fromkeys(names[1:]) if name != names[0]]

        genre = _text(row.get("genre")) or UNKNOWN_GENRE
        if _check_length(errors, "genre", genre, 80, "genre name"):
            instance.genre = self.named.genre(genre)

        try:
            release_date = self._release_date(row)
        except ValueError as exc:
            errors.setdefault("release_date", []).append(str(exc))
            release_date = None
        album_title = _text(row.get("album"))
        # Layouts without albums: the track is its own single, as streaming services show it.
        title = album_title or _text(row.get("title"))
        if title and _check_length(errors, "album", title, 200, "album title"):
            instance.album = self.named.album(
                title, primary, release_date=release_date, single=not album_title
            )

    def _release_date(self, row: dict) -> date | None:
        value = row.get("release_date")
        if _text(value):
            return DateWidget(partial=True).clean(value)
        year = _text(row.get("year"))
        if not year:
            return None
        parts = [year, _text(row.get("month")) or "1", _text(row.get("day")) or "1"]
        if not all(part.isdigit() for part in parts):
            raise ValueError(f"{'-'.join(parts)!r} is not a date; the year, month and day must be numbers")
        return DateWidget().clean("-".join(f"{int(part):02d}" for part in parts))

    def column_of(self, key: str) -> str:
        return {"primary_artist": "artists", "featured_artists": "artists"}.get(key, super().column_of(key))

    def skip_row(
        self, instance: Track, original: Any, row: dict, import_validation_errors: Any = None
    ) -> bool:
        if self._skip_reason:
            return True
        return super().skip_row(instance, original, row, import_validation_errors)

    def related_changed(self, instance: Track, row: dict) -> bool:
        current = set(instance.featured_artists.values_list("id", flat=True))
        return current != {artist.pk for artist in self._featured}

    def save_m2m(self, instance: Track, row: dict, **kwargs: Any) -> None:
        if self._skip_reason:
            return
        if self._snapshot is None:  # a new track: nothing to compare, add what there is
            if self._featured:
                instance.featured_artists.add(*self._featured)
        else:
            instance.featured_artists.set(self._featured)

    def validate_instance(
        self, instance: Track, import_validation_errors: Any = None, validate_unique: bool = True
    ):
        # Uniqueness of ISRC and track id: the file is checked for repeats before, existing
        # tracks are matched by them, and the database refuses the rest (a plain problem).
        validate_unique = False
        try:
            super().validate_instance(instance, import_validation_errors, validate_unique)
        except ValidationError as exc:
            # The model says "Track with this ISRC already exists": true, but unhelpful.
            raise ValidationError(
                {
                    key: [
                        "another track already has this value"
                        if "already exists" in str(message)
                        else message
                        for message in ValidationError(messages).messages
                    ]
                    for key, messages in exc.update_error_dict({}).items()
                }
            ) from None


class ArtistResource(SpotilyticsResource):
    name = column("name", TextWidget())
    country = column("country", UpperTextWidget())
    genres = column("genres", TextWidget(), attribute="", readonly=True)

    file_key = ("name",)
    required_columns = ("name",)
    aliases: ClassVar = {"artist": Alias("name"), "artistname": Alias("name"), "genre": Alias("genres")}
    export_prefetch_related = ("genres",)

    class Meta:
        model = Artist
        name = "Artists"
        fields = ("name", "country", "genres")
        import_id_fields = ("name",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.named = _NamedObjects()
        self._genres: list[Genre] | None = None

    def dehydrate_genres(self, artist: Artist) -> str:
        return ";".join(genre.name for genre in sorted(artist.genres.all(), key=lambda genre: genre.name))

    def get_instance(self, instance_loader: Any, row: dict) -> Artist | None:
        name = _text(row.get("name"))
        return Artist.objects.filter(name__iexact=name).order_by("id").first() if name else None

    def import_instance(self, instance: Artist, row: dict, **kwargs: Any) -> None:
        super().import_instance(instance, row, **kwargs)
        self._genres = None
        if "genres" in row:
            self._genres = [self.named.genre(name) for name in split_names(row["genres"])]

    def related_changed(self, instance: Artist, row: dict) -> bool:
        if self._genres is None:
            return False
        return set(instance.genres.values_list("id", flat=True)) != {genre.pk for genre in self._genres}

    def save_m2m(self, instance: Artist, row: dict, **kwargs: Any) -> None:
        if self._genres is not None:
            instance.genres.set(self._genres)

    def related_created(self) -> dict[str, int]:
        return dict(self.named.created)

    def reset_caches(self) -> None:
        super().reset_caches()
        self.named.clear()


class AlbumResource(SpotilyticsResource):
    title = column("title", TextWidget())
    artist = column("artist", TextWidget(), attribute="", readonly=True)
    release_date = column("release_date", DateWidget(partial=True))
    album_type = column("album_type", ChoiceWidget(AlbumType.choices), default=AlbumType.ALBUM)
    label = column("label", TextWidget())

    file_key = ("title", "artist")
    required_columns = ("title", "artist")
    aliases: ClassVar = {
        "album": Alias("title"),
        "albumname": Alias("title"),
        "artistname": Alias("artist"),
        "artists": Alias("artist"),
        "type": Alias("album_type"),
    }
    export_select_related = ("artist",)

    class Meta:
        model = Album
        name = "Albums"
        fields = ("title", "artist", "release_date", "album_type", "label")
        import_id_fields = ("title",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.named = _NamedObjects()

    def dehydrate_artist(self, album: Album) -> str:
        return album.artist.name

    def get_instance(self, instance_loader: Any, row: dict) -> Album | None:
        title, artist = _text(row.get("title")), _text(row.get("artist"))
        if not title or not artist:
            return None
        return Album.objects.filter(title__iexact=title, artist__name__iexact=artist).order_by("id").first()

    def import_instance(self, instance: Album, row: dict, **kwargs: Any) -> None:
        errors: dict[str, list] = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = {key: list(value) for key, value in exc.update_error_dict({}).items()}
        name = _text(row.get("artist"))
        if not name:
            errors.setdefault("artist", []).append("the album has no artist")
        elif _check_length(errors, "artist", name, 200, "artist name"):
            instance.artist = self.named.artist(name)
        if errors:
            raise ValidationError(errors)

    def related_created(self) -> dict[str, int]:
        return dict(self.named.created)

    def reset_caches(self) -> None:
        super().reset_caches()
        self.named.clear()


class PodcastResource(SpotilyticsResource):
    title = column("title", TextWidget())
    host = column("host", TextWidget())
    publisher = column("publisher", TextWidget())
    category = column("category", TextWidget())

    file_key = ("title", "host")
    required_columns = ("title", "host")
    aliases: ClassVar = {"podcast": Alias("title"), "name": Alias("title"), "genre": Alias("category")}

    class Meta:
        model = Podcast
        name = "Podcasts"
        fields = ("title", "host", "publisher", "category")
        import_id_fields = ("title", "host")

    def get_instance(self, instance_loader: Any, row: dict) -> Podcast | None:
        title, host = _text(row.get("title")), _text(row.get("host"))
        if not title or not host:
            return None
        return Podcast.objects.filter(title__iexact=title, host__iexact=host).order_by("id").first()


class EpisodeResource(SpotilyticsResource):
    podcast = column("podcast", TextWidget(), attribute="", readonly=True)
    podcast_host = column("podcast_host", TextWidget(), attribute="", readonly=True)
    number = column("number", IntegerWidget())
    title = column("title", TextWidget())
    release_date = column("release_date", DateWidget())
    duration_ms = column("duration_ms", DurationWidget())

    file_key = ("podcast", "podcast_host", "number")
    required_columns = ("podcast", "number")
    aliases: ClassVar = {
        "podcasttitle": Alias("podcast"),
        "show": Alias("podcast"),
        "host": Alias("podcast_host"),
        "episode": Alias("number"),
        "episodenumber": Alias("number"),
        "duration": Alias("duration_ms", SECONDS),
    }
    export_select_related = ("podcast",)

    class Meta:
        model = Episode
        name = "Episodes"
        fields = ("podcast", "podcast_host", "number", "title", "release_date", "duration_ms")
        import_id_fields = ("number",)

    def dehydrate_podcast(self, episode: Episode) -> str:
        return episode.podcast.title

    def dehydrate_podcast_host(self, episode: Episode) -> str:
        return episode.podcast.host

    def _podcast(self, row: dict) -> Podcast:
        title, host = _text(row.get("podcast")), _text(row.get("podcast_host"))
        podcasts: QuerySet[Podcast] = Podcast.objects.filter(title__iexact=title)
        if host:
            podcasts = podcasts.filter(host__iexact=host)
        found = list(podcasts.order_by("id")[:2])
        if not found:
            raise ValueError(f"there is no podcast {title!r}" + (f" hosted by {host!r}" if host else ""))
        if len(found) > 1:
            raise ValueError(f"several podcasts are called {title!r}: add a podcast_host column")
        return found[0]

    def get_instance(self, instance_loader: Any, row: dict) -> Episode | None:
        try:
            podcast = self._podcast(row)
            number = self.fields["number"].clean(row)
        except ValueError:
            return None
        return Episode.objects.filter(podcast=podcast, number=number).first() if number else None

    def import_instance(self, instance: Episode, row: dict, **kwargs: Any) -> None:
        errors: dict[str, list] = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = {key: list(value) for key, value in exc.update_error_dict({}).items()}
        try:
            instance.podcast = self._podcast(row)
        except ValueError as exc:
            errors.setdefault("podcast", []).append(str(exc))
        if errors:
            raise ValidationError(errors)

    def validate_instance(
        self, instance: Episode, import_validation_errors: Any = None, validate_unique: bool = True
    ):
        try:
            super().validate_instance(instance, import_validation_errors, validate_unique)
        except ValidationError as exc:
            errors = exc.update_error_dict({})
            if NON_FIELD_ERRORS in errors:
                errors["number"] = errors.pop(NON_FIELD_ERRORS)
            raise ValidationError(errors) from None

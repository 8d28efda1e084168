from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import (
    AutocompleteSelectFilter,
    BooleanRadioFilter,
    ChoicesDropdownFilter,
    DropdownFilter,
    RangeDateFilter,
    RangeNumericFilter,
    RelatedDropdownFilter,
)

from catalog.models import (
    Album,
    Artist,
    Episode,
    Follow,
    Genre,
    Playlist,
    PlaylistItem,
    Podcast,
    Rating,
    Track,
)
from spotilytics.admin_tools import (
    DateTimeRangeFilter,
    LargeTableAdminMixin,
    minutes_seconds,
    register_rollups,
    subquery_count,
)

# Listeners are billing data that catalog editors may not browse: foreign keys to a
# listener use raw ids here, never an autocomplete (which needs the listener admin).


# --- Genres, artists, albums, tracks ------------------------------------------------


@admin.register(Genre)
class GenreAdmin(ModelAdmin):
    list_display = ["name", "artist_count", "track_count"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                artist_total=subquery_count(Artist.genres.through, "genre"),
                track_total=subquery_count(Track, "genre"),
            )
        )

    @admin.display(description="artists", ordering="artist_total")
    def artist_count(self, obj: Genre) -> int:
        return obj.artist_total

    @admin.display(description="tracks", ordering="track_total")
    def track_count(self, obj: Genre) -> int:
        return obj.track_total


@admin.register(Artist)
class ArtistAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = ["name", "country", "album_count", "track_count", "follower_count"]
    search_fields = ["name", "id__exact"]
    list_filter = [("genres", RelatedDropdownFilter), ("country", ChoicesDropdownFilter)]
    list_filter_submit = True
    autocomplete_fields = ["genres"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                album_total=subquery_count(Album, "artist"),
                track_total=subquery_count(Track, "primary_artist"),
                follower_total=subquery_count(Follow, "artist", unfollowed_at__isnull=True),
            )
        )

    @admin.display(description="albums", ordering="album_total")
    def album_count(self, obj: Artist) -> int:
        return obj.album_total

    @admin.display(description="tracks", ordering="track_total")
    def track_count(self, obj: Artist) -> int:
        return obj.track_total

    @admin.display(description="followers", ordering="follower_total")
    def follower_count(self, obj: Artist) -> int:
        return obj.follower_total


class TrackInline(TabularInline):
    model = Track
    fields = ["title", "primary_artist", "genre", "duration_ms", "explicit", "isrc"]
    autocomplete_fields = ["primary_artist", "genre"]
    extra = 0
    show_change_link = True
    per_page = 25

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("primary_artist", "genre")


@admin.register(Album)
class AlbumAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = ["title", "artist", "album_type", "release_date", "label", "track_count"]
    list_select_related = ["artist"]
    search_fields = ["title", "artist__name", "id__exact"]
    list_filter = [
        ("album_type", ChoicesDropdownFilter),
        ("release_date", RangeDateFilter),
        ("artist", AutocompleteSelectFilter),
    ]
    list_filter_submit = True
    autocomplete_fields = ["artist"]
    inlines = [TrackInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(track_total=subquery_count(Track, "album"))

    @admin.display(description="tracks", ordering="track_total")
    def track_count(self, obj: Album) -> int:
        return obj.track_total


@admin.register(Track)
class TrackAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = ["title", "primary_artist", "album", "genre", "duration", "explicit", "popularity"]
    list_select_related = ["primary_artist", "album__artist", "genre"]
    search_fields = ["title", "primary_artist__name", "isrc__exact", "external_id__exact", "id__exact"]
    search_help_text = "Title, artist name, exact ISRC, external id or track id."
    list_filter = [
        ("genre", RelatedDropdownFilter),
        ("explicit", BooleanRadioFilter),
        ("album__album_type", ChoicesDropdownFilter),
        ("album__release_date", RangeDateFilter),
        ("popularity", RangeNumericFilter),
        ("primary_artist", AutocompleteSelectFilter),
    ]
    list_filter_submit = True
    autocomplete_fields = ["album", "primary_artist", "featured_artists", "genre"]
    fieldsets = [
        (None, {"fields": ["title", "album", "primary_artist", "featured_artists", "genre"]}),
        ("Release", {"fields": ["duration_ms", "explicit", "isrc", "external_id", "popularity"]}),
        (
            "Audio features",
            {
                "classes": ["collapse"],
                "fields": [
                    ("danceability", "energy", "valence"),
                    ("acousticness", "speechiness", "instrumentalness"),
                    ("liveness", "tempo", "loudness"),
                    ("key", "mode"),
                ],
            },
        ),
    ]

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: Track) -> str:
        return obj.duration_label


# --- Podcasts -----------------------------------------------------------------------


class EpisodeInline(TabularInline):
    model = Episode
    fields = ["number", "title", "release_date", "duration_ms"]
    extra = 0
    show_change_link = True
    per_page = 25


@admin.register(Podcast)
class PodcastAdmin(ModelAdmin):
    list_display = ["title", "host", "publisher", "category", "episode_count"]
    search_fields = ["title", "host", "publisher", "category"]
    inlines = [EpisodeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(episode_total=subquery_count(Episode, "podcast"))

    @admin.display(description="episodes", ordering="episode_total")
    def episode_count(self, obj: Podcast) -> int:
        return obj.episode_total


@admin.register(Episode)
class EpisodeAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = ["title", "podcast", "number", "release_date", "duration"]
    list_select_related = ["podcast"]
    search_fields = ["title", "podcast__title", "id__exact"]
    list_filter = [("release_date", RangeDateFilter), ("podcast", AutocompleteSelectFilter)]
    list_filter_submit = True
    autocomplete_fields = ["podcast"]

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: Episode) -> str:
        return minutes_seconds(obj.duration_ms)


# --- Playlists ----------------------------------------------------------------------


class EditorialFilter(DropdownFilter):
    title = "owner"
    parameter_name = "editorial"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Editorial"), ("no", "A listener's")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(owner__isnull=self.value() == "yes")
        return queryset


class PlaylistItemInline(TabularInline):
    model = PlaylistItem
    fields = ["position", "track", "episode", "added_at"]
    raw_id_fields = ["track", "episode"]
    extra = 0
    per_page = 25

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("track", "episode__podcast")


@admin.register(Playlist)
class PlaylistAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = ["title", "owner", "is_public", "content_kind", "item_count", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["title", "owner__email__exact", "id__exact"]
    search_help_text = "Title, exact owner e-mail or playlist id."
    list_filter = [
        EditorialFilter,
        ("is_public", BooleanRadioFilter),
        ("content_kind", ChoicesDropdownFilter),
        ("created_at", DateTimeRangeFilter),
    ]
    list_filter_submit = True
    raw_id_fields = ["owner"]
    inlines = [PlaylistItemInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(item_total=subquery_count(PlaylistItem, "playlist"))

    @admin.display(description="items", ordering="item_total")
    def item_count(self, obj: Playlist) -> int:
        return obj.item_total


@admin.register(PlaylistItem)
class PlaylistItemAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = ["__str__", "playlist", "position", "item", "added_at"]
    list_select_related = ["playlist", "track", "episode__podcast"]
    search_fields = ["playlist__id__exact", "track__id__exact", "episode__id__exact"]
    search_help_text = "Playlist, track or episode id."
    list_filter = [("added_at", DateTimeRangeFilter)]
    list_filter_submit = True
    raw_id_fields = ["playlist", "track", "episode"]

    @admin.display(description="track or episode")
    def item(self, obj: PlaylistItem) -> str:
        return str(obj.track or obj.episode)


# --- Follows and ratings ------------------------------------------------------------


class FollowStateFilter(DropdownFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("following", "Following"), ("unfollowed", "Unfollowed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("following", "unfollowed"):
            return queryset.filter(unfollowed_at__isnull=self.value() == "following")
        return queryset


@admin.register(Follow)
class FollowAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = ["__str__", "listener", "artist", "followed_at", "unfollowed_at"]
    list_select_related = ["listener", "artist"]
    search_fields = ["listener__id__exact", "artist__id__exact"]
    search_help_text = "Listener or artist id."
    list_filter = [
        FollowStateFilter,
        ("artist", AutocompleteSelectFilter),
        ("followed_at", DateTimeRangeFilter),
        ("unfollowed_at", DateTimeRangeFilter),
    ]
    list_filter_submit = True
    raw_id_fields = ["listener"]
    autocomplete_fields = ["artist"]


@admin.register(Rating)
class RatingAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = ["__str__", "listener", "item", "score", "rated_at"]
    list_select_related = ["listener", "track", "episode__podcast"]
    search_fields = ["listener__id__exact", "track__id__exact", "episode__id__exact"]
    search_help_text = "Listener, track or episode id."
    list_filter = [
        ("score", RangeNumericFilter),
        ("rated_at", DateTimeRangeFilter),
    ]
    list_filter_submit = True
    raw_id_fields = ["listener", "track", "episode"]

    @admin.display(description="track or episode")
    def item(self, obj: Rating) -> str:
        return str(obj.item)


# Content rollups (`catalog.rollups`): read-only, derived from their fields.
register_rollups("catalog")

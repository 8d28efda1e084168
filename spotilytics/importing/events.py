"""Export of listening events: read-only, CSV, streamed; never imported through the browser.

Tens of millions of rows: the columns map straight onto `values_list` paths, so a
million-row export streams flat tuples and never builds a model instance.
"""

from __future__ import annotations

from typing import ClassVar

from analytics.models import Device, ListeningEvent, PlayContext
from spotilytics.importing.resources import (
    BooleanWidget,
    ChoiceWidget,
    DateTimeWidget,
    IntegerWidget,
    SpotilyticsResource,
    TextWidget,
    column,
)


class ListeningEventResource(SpotilyticsResource):
    id = column("id", IntegerWidget())
    played_at = column("played_at", DateTimeWidget())
    listener = column("listener", TextWidget(), attribute="listener__email")
    track = column("track", IntegerWidget(), attribute="track_id")
    episode = column("episode", IntegerWidget(), attribute="episode_id")
    ms_played = column("ms_played", IntegerWidget())
    skipped = column("skipped", BooleanWidget())
    device = column("device", ChoiceWidget(Device.choices))
    context = column("context", ChoiceWidget(PlayContext.choices))
    playlist = column("playlist", IntegerWidget(), attribute="playlist_id")

    export_select_related = ("listener",)
    export_paths: ClassVar = {
        "id": "id",
        "played_at": "played_at",
        "listener": "listener__email",
        "track": "track_id",
        "episode": "episode_id",
        "ms_played": "ms_played",
        "skipped": "skipped",
        "device": "device",
        "context": "context",
        "playlist": "playlist_id",
    }

    class Meta:
        model = ListeningEvent
        name = "Listening events"
        fields = (
            "id",
            "played_at",
            "listener",
            "track",
            "episode",
            "ms_played",
            "skipped",
            "device",
            "context",
            "playlist",
        )
        import_id_fields = ("id",)

"""The apps' ModelAdmins with import and export, ready to wire into the admin site.

The preferred wiring is to add the mixin to each admin class in the apps' `admin.py`
(`class TrackAdmin(ImportExportAdminMixin, LargeTableAdminMixin, ModelAdmin)` with
`resource_classes = [TrackResource]`, as `ADMIN_OPTIONS` lists). Until then,
`install(site)` re-registers these models on a site with the mixin added to whatever
admin class the site already uses for them, and registers the import log. Installing
twice, or on a site whose admins already have the mixins, changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.db.models import Model

from analytics.models import ListeningEvent
from billing.models import Listener, Payment, Plan, Subscription
from billing.resources import ListenerResource, PaymentResource, PlanResource, SubscriptionResource
from catalog.models import Album, Artist, Episode, Podcast, Track
from catalog.resources import AlbumResource, ArtistResource, EpisodeResource, PodcastResource, TrackResource
from spotilytics.importing.admin import (
    ExportOnlyAdminMixin,
    ImportExportAdminMixin,
    ImportLogAdmin,
    StreamingExportMixin,
    TrackImportForm,
)
from spotilytics.importing.events import ListeningEventResource
from spotilytics.models import ImportLog

# model -> (mixin, class attributes) for its admin.
ADMIN_OPTIONS: dict[type[Model], tuple[type, dict[str, Any]]] = {
    Artist: (ImportExportAdminMixin, {"resource_classes": [ArtistResource]}),
    Album: (ImportExportAdminMixin, {"resource_classes": [AlbumResource]}),
    Track: (
        ImportExportAdminMixin,
        {"resource_classes": [TrackResource], "import_form_class": TrackImportForm},
    ),
    Podcast: (ImportExportAdminMixin, {"resource_classes": [PodcastResource]}),
    Episode: (ImportExportAdminMixin, {"resource_classes": [EpisodeResource]}),
    Listener: (ImportExportAdminMixin, {"resource_classes": [ListenerResource]}),
    Plan: (ImportExportAdminMixin, {"resource_classes": [PlanResource]}),
    Subscription: (ImportExportAdminMixin, {"resource_classes": [SubscriptionResource]}),
    Payment: (ImportExportAdminMixin, {"resource_classes": [PaymentResource]}),
    # Written by the system only: exported (CSV, streamed), never imported in a browser.
    ListeningEvent: (ExportOnlyAdminMixin, {"resource_classes": [ListeningEventResource]}),
}


def with_import_export(model: type[Model], admin_class: type) -> type:
    """`admin_class` with the model's import/export mixin and options added."""
    mixin, options = ADMIN_OPTIONS[model]
    if issubclass(admin_class, StreamingExportMixin):
        return admin_class
    return type(admin_class.__name__, (mixin, admin_class), {"__module__": admin_class.__module__, **options})


def install(site: AdminSite) -> None:
    """Add import and export to the site's admins of `ADMIN_OPTIONS`, and the import log."""
    for model in ADMIN_OPTIONS:
        if not site.is_registered(model):
            continue
        current = type(site.get_model_admin(model))
        upgraded = with_import_export(model, current)
        if upgraded is not current:
            site.unregister(model)
            site.register(model, upgraded)
    if not site.is_registered(ImportLog):
        site.register(ImportLog, ImportLogAdmin)

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class SpotilyticsConfig(AppConfig):
    name = "spotilytics"
    verbose_name = "Spotilytics"

    def ready(self) -> None:
        from spotilytics import checks  # noqa: F401  (registers the deploy checks)

        post_migrate.connect(_sync_roles_after_migrate, sender=self)


def _sync_roles_after_migrate(sender, apps=None, **kwargs) -> None:
    from django.apps import apps as global_apps

    from spotilytics.roles import sync_roles

    # `flush` (e.g. after transactional tests) sends the signal without `apps`.
    sync_roles(apps or global_apps)


class SpotilyticsAdminConfig(admin_apps.AdminConfig):
    default_site = "spotilytics.admin_site.SpotilyticsAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin module
        from django.contrib import admin

        from spotilytics.importing.integration import install

        # Import/export is added once every ModelAdmin is registered, so the apps'
        # admin classes stay plain and the import rules live in one place.
        install(admin.site)

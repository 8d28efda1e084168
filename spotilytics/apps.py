from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SpotilyticsConfig(AppConfig):
    name = "spotilytics"
    verbose_name = "Spotilytics"

    def ready(self) -> None:
        from spotilytics import checks  # noqa: F401  (registers the deploy checks)


class SpotilyticsAdminConfig(admin_apps.AdminConfig):
    default_site = "spotilytics.admin_site.SpotilyticsAdminSite"

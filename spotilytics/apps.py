from django.apps import AppConfig


class SpotilyticsConfig(AppConfig):
    name = "spotilytics"
    verbose_name = "Spotilytics"

    def ready(self) -> None:
        from spotilytics import checks  # noqa: F401  (registers the deploy checks)

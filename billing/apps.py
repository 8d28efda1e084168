from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Listeners & billing"

    def ready(self) -> None:
        from billing import changes

        changes.connect()

from django.apps import AppConfig


class MicroblogConfig(AppConfig):
    name = "microblog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register inbound handlers and NodeInfo counters with the federation layer.
        from microblog import inbound, inbound_bulk, interactions, polls  # noqa: F401

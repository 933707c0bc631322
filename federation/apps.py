from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the core inbound handlers (follows, actor updates) and the inbox tasks.
        from federation import follows, inbound  # noqa: F401

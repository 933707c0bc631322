from django.apps import AppConfig


class MicroblogConfig(AppConfig):
    name = "microblog"
    default_auto_field = "django.db.models.BigAutoField"

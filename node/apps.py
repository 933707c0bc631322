from django.apps import AppConfig


class NodeConfig(AppConfig):
    name = "node"
    verbose_name = "Node"
    default_auto_field = "django.db.models.BigAutoField"

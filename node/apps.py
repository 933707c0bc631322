from django.apps import AppConfig


class NodeConfig(AppConfig):
    name = "node"
    verbose_name = "Node"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registrations on import (inbound handlers, Celery tasks): statistics reports.
        from node import stats  # noqa: F401

        # The hub: inbound handlers, follow and publish observers (node/hub_inbound.py).
        from node.hub_inbound import register as register_hub

        register_hub()
        # learning and groups are independent: node wires the group hooks of course assignments.
        from groups.services import active_members, is_officer
        from learning import registry as learning_registry

        learning_registry.register_group_members(lambda group: [m.actor for m in active_members(group)])
        learning_registry.register_group_officer(is_officer)

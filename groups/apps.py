from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Plug groups into federation: inbound handlers, follow mirror, Group actor fields."""
        from federation import registry
        from groups import inbound  # noqa: F401 - handlers register on import
        from groups.activitypub import followers_policy, group_actor_extras
        from groups.posts import on_post_event  # noqa: F401 - G2: group posts, their handlers and votes
        from groups.services import on_follow_event

        registry.register_follow_observer(on_follow_event)
        registry.register_actor_extras(group_actor_extras)
        registry.register_followers_policy(followers_policy)
        from groups import (
            events_inbound,  # noqa: F401 - G3 events: chains to handlers registered above
            transfers_inbound,  # noqa: F401 - G4 transfers: Offer/Accept/Reject{Offer} handlers
        )

from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the ``learningCredits`` counter (NodeInfo and statistics reports)."""
        from federation import registry
        from learning.credits import total_credits

        registry.register_counter("learningCredits", total_credits)
        # W5: the extraction task, the course observer and tasks, the course handlers
        # and (assignments) the follow observer keeping group assignments in step with members
        from learning import assignments, library, sharing, sharing_inbound  # noqa: F401

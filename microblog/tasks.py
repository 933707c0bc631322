"""microblog.tasks (being written)."""

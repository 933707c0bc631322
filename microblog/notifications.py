"""microblog.notifications (being written)."""

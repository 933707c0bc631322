"""microblog.services (being written)."""

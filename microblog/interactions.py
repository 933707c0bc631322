"""microblog.interactions (being written)."""

"""microblog.media (being written)."""

"""microblog.timelines (being written)."""

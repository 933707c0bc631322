"""microblog.search (being written)."""

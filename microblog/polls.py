"""microblog.polls (being written)."""

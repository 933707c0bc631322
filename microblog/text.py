"""microblog.text (being written)."""

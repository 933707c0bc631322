"""microblog.web (being written)."""

"""microblog.inbound (being written)."""

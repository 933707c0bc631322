"""microblog.effects (being written)."""

"""microblog.activitypub (being written)."""

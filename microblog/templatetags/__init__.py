"""Template tags of the microblog web UI."""

"""The microblog app."""

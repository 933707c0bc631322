"""The learning app."""

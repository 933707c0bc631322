"""The groups app."""

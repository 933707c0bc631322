"""The federation app."""

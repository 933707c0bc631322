"""Mastodon-compatible client API."""

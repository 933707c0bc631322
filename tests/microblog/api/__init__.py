"""Tests of the Mastodon-compatible client API."""

"""Microblog routes: the Mastodon-compatible client API and the web UI."""

from django.urls import path  # noqa: F401

urlpatterns: list = []

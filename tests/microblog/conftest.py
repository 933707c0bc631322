"""Microblog fixtures (P1 posts). Other helpers may append fixtures at the end (additive only).

Global fixtures from ``tests/conftest.py``: ``make_local_member``, ``local_member`` (alice),
``make_remote_actor``, ``fake_server``, ``fixture_path``.
"""

from __future__ import annotations

import json

import pytest

from federation.models import Actor, Follow, FollowState


@pytest.fixture
def make_follow(db):
    """Factory: ``follower`` follows ``target`` (accepted unless ``state`` says otherwise)."""

    def make(follower: Actor, target: Actor, state: str = FollowState.ACCEPTED) -> Follow:
        return Follow.objects.create(
            follower=follower, target=target, state=state, ap_id=f"{follower.ap_id}#follows/{target.pk}"
        )

    return make


@pytest.fixture
def make_post(db):
    """Factory: a local post by ``author`` through ``services.create_post`` (side effects are
    scheduled on commit, which tests without ``django_capture_on_commit_callbacks`` never run)."""
    from microblog import services

    def make(author: Actor, text: str = "hello", **kwargs):
        return services.create_post(author, text=text, **kwargs)

    return make


@pytest.fixture
def load_fixture(fixture_path):
    """Factory: the parsed JSON of a document under ../shared/fixtures."""

    def load(name: str) -> dict:
        return json.loads(fixture_path(name).read_text(encoding="utf-8"))

    return load


# Inbound tests (test_inbound, test_inbound_bulk): two remote actors on one server, one followed.
@pytest.fixture
def bob(make_remote_actor):
    """bob@remote.example, followed by alice."""
    return make_remote_actor("bob", domain="remote.example")[0]


@pytest.fixture
def mallory(make_remote_actor):
    """mallory@remote.example, on bob's server, followed by nobody."""
    return make_remote_actor("mallory", domain="remote.example")[0]


@pytest.fixture
def alice(local_member, bob, make_follow):
    make_follow(local_member, bob)
    return local_member

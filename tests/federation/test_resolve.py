"""Resolving remote actors: fetched signed from their origin, refused at private addresses
unless the operator allows them, and never stored when refused."""

from __future__ import annotations

import pytest

from federation.keys import generate_key_pair
from federation.models import Actor
from federation.resolve import ResolveError, get_or_fetch_actor
from federation.transport import get_transport

AS2 = "application/activity+json"
pytestmark = pytest.mark.django_db


@pytest.fixture
def served_actor(fake_server):
    """An actor document for /users/zed on the loopback fake server."""
    _, public_pem = generate_key_pair()
    actor_id = fake_server.url("/users/zed")
    fake_server.route(
        "GET",
        "/users/zed",
        json={
            "id": actor_id,
            "type": "Person",
            "preferredUsername": "zed",
            "inbox": f"{actor_id}/inbox",
            "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": public_pem},
        },
        headers={"Content-Type": AS2},
    )
    return actor_id


def test_actor_at_private_address_is_refused_by_default(settings, fake_server, served_actor):
    """Without FEDERATION_ALLOW_PRIVATE_ADDRESSES a loopback actor is never fetched nor stored."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = False
    get_transport()  # the singleton reads the setting per call, not once
    with pytest.raises(ResolveError):
        get_or_fetch_actor(served_actor)
    assert fake_server.requests == []
    assert not Actor.objects.filter(ap_id=served_actor).exists()


def test_actor_at_private_address_is_fetched_when_allowed(settings, fake_server, served_actor):
    """With the development setting the actor is fetched with a signed GET and cached."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    actor = get_or_fetch_actor(served_actor)
    assert actor.username == "zed" and not actor.local
    assert actor.inbox_url == f"{served_actor}/inbox"
    request = fake_server.requests_to("/users/zed", "GET")[0]
    assert request.header("signature") and "keyId=" in request.header("signature")


def test_actor_with_inbox_on_another_host_is_refused(settings, fake_server):
    """An actor whose inbox points to another host (e.g. an internal address) is not stored."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    _, public_pem = generate_key_pair()
    actor_id = fake_server.url("/users/eve")
    fake_server.route(
        "GET",
        "/users/eve",
        json={
            "id": actor_id,
            "type": "Person",
            "preferredUsername": "eve",
            "inbox": "http://10.0.0.5/inbox",
            "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": public_pem},
        },
        headers={"Content-Type": AS2},
    )
    with pytest.raises(ResolveError):
        get_or_fetch_actor(actor_id)
    assert not Actor.objects.filter(ap_id=actor_id).exists()


def _person(ap_id: str, username: str) -> dict:
    return {
        "id": ap_id,
        "type": "Person",
        "preferredUsername": username,
        "inbox": f"{ap_id}/inbox",
        "publicKey": {"id": f"{ap_id}#main-key", "owner": ap_id, "publicKeyPem": generate_key_pair()[1]},
    }


@pytest.mark.django_db
def test_upsert_actor_that_lost_a_race_refreshes_the_winners_row(monkeypatch):
    """When another worker stores the same new actor between our look-up and our insert, we
    refresh its row (no error, no renamed handle) instead of failing the activity for good."""
    from federation import resolve

    ap_id = "https://race.example/users/volunteers"
    winner = resolve.upsert_actor(_person(ap_id, "volunteers"))
    real = resolve._locked_actor
    calls = {"n": 0}

    def first_misses(ident: str):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(ident)  # the row "appears" after our first look

    monkeypatch.setattr(resolve, "_locked_actor", first_misses)
    doc = {**_person(ap_id, "volunteers"), "name": "志愿服务队"}
    actor = resolve.upsert_actor(doc)
    assert actor.pk == winner.pk and actor.name == "志愿服务队"
    stored = Actor.objects.get(ap_id=ap_id)
    assert stored.username == "volunteers" and stored.name == "志愿服务队"
    assert Actor.objects.filter(domain="race.example").count() == 1

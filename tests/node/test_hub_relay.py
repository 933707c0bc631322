"""The relay: public activities go up as Announce by the instance actor; relayed objects are
fetched from their origin, stored once and passed on; nothing non-public is ever relayed."""

from __future__ import annotations

import pytest

from federation import registry
from federation.models import Actor, ActorType, Delivery, OutboxActivity
from microblog.models import Post
from microblog.services import create_post
from node import hub_relay
from node.models import NodeRelation, RelationDirection, RelationKind, RelationState, RelayedObject

AS2 = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def _relays() -> list[OutboxActivity]:
    return list(OutboxActivity.objects.filter(type="Announce", actor__username="instance.actor"))


def _post(author, visibility: str, capture) -> Post:
    with capture(execute=True):
        return create_post(author, text=f"{visibility} 你好", visibility=visibility)


def test_public_post_relayed_to_parent(local_member, parent, hold_deliveries, django_capture_on_commit_callbacks):
    """A member's public post becomes one Announce{post} by the instance actor delivered to the
    parent, the post embedded as its Create carried it (we are its origin)."""
    post = _post(local_member, "public", django_capture_on_commit_callbacks)
    relays = _relays()
    assert len(relays) == 1
    embedded = relays[0].body["object"]
    create = OutboxActivity.objects.get(type="Create", actor=local_member).body
    assert embedded["id"] == post.ap_id and "@context" not in embedded
    assert embedded == {k: v for k, v in create["object"].items() if k != "@context"}
    assert relays[0].body["actor"] == relays[0].actor.ap_id
    assert list(Delivery.objects.filter(activity=relays[0]).values_list("inbox_url", flat=True)) == [
        parent.delivery_inbox
    ]


@pytest.mark.parametrize("visibility", ["private", "direct", "unlisted"])
def test_non_public_post_never_relayed(
    visibility, local_member, parent, hold_deliveries, django_capture_on_commit_callbacks
):
    """Followers-only, direct and unlisted posts are never relayed."""
    _post(local_member, visibility, django_capture_on_commit_callbacks)
    assert _relays() == []
    assert not Delivery.objects.filter(inbox_url=parent.delivery_inbox).exists()


def test_nothing_relayed_while_parent_pending(
    local_member, parent, hold_deliveries, django_capture_on_commit_callbacks
):
    """Before the parent accepts, public posts are not relayed."""
    NodeRelation.objects.update(state=RelationState.PENDING)
    _post(local_member, "public", django_capture_on_commit_callbacks)
    assert _relays() == []


def test_relay_key_refuses_members_only_group_announce():
    """A group's Announce addressed to its followers (members-only) is not relayable; a public one is."""
    inner = {
        "type": "Create",
        "to": ["https://n/g/1/followers"],
        "object": {"id": "https://n/objects/1", "type": "Note"},
    }
    members_only = {"type": "Announce", "to": ["https://n/g/1/followers"], "object": inner}
    assert hub_relay.relay_key(members_only) is None
    public_inner = {"type": "Create", "to": [PUBLIC], "object": {"id": "https://n/objects/1", "to": [PUBLIC]}}
    public = {"type": "Announce", "to": [PUBLIC], "object": public_inner}
    assert hub_relay.relay_key(public) == ("https://n/objects/1", "")


def test_relay_subscriber_gets_public_posts(
    local_member, db, settings, hold_deliveries, django_capture_on_commit_callbacks
):
    """A Mastodon-style relay subscriber (Follow as:Public) gets a delivery of every public post."""
    sub = Actor.objects.create(
        ap_id="https://innocent.yukimochi.io/actor",
        type=ActorType.APPLICATION,
        username="relay",
        domain="innocent.yukimochi.io",
        inbox_url="https://innocent.yukimochi.io/inbox",
    )
    NodeRelation.objects.create(
        actor=sub,
        direction=RelationDirection.CHILD,
        kind=RelationKind.RELAY,
        state=RelationState.ACCEPTED,
        domain=sub.domain,
    )
    _post(local_member, "public", django_capture_on_commit_callbacks)
    _post(local_member, "private", django_capture_on_commit_callbacks)
    assert list(Delivery.objects.filter(activity__type="Announce").values_list("inbox_url", flat=True)) == [
        "https://innocent.yukimochi.io/inbox"
    ]


# ---------------------------------------------------------------- inbound (hub side)


@pytest.fixture
def child_world(settings, fake_server, make_remote_actor, parent):
    """A child node on the loopback fake server: its instance actor (accepted child), an author,
    and a public note served at /objects/1."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    host = fake_server.netloc
    child, _ = make_remote_actor("instance.actor", domain=host, scheme="http", type=ActorType.APPLICATION)
    rel = NodeRelation.objects.create(
        actor=child, direction=RelationDirection.CHILD, state=RelationState.ACCEPTED, domain=child.domain
    )
    author, _ = make_remote_actor("carol", domain=host, scheme="http")
    note = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": fake_server.url("/objects/1"),
        "type": "Note",
        "attributedTo": author.ap_id,
        "content": "<p>县里的消息</p>",
        "published": "2025-01-01T00:00:00Z",
        "to": [PUBLIC],
        "cc": [],
    }
    fake_server.route("GET", "/objects/1", json=note, headers={"Content-Type": AS2})
    return child, rel, note


def _announce(child, object_id: str, n: int) -> dict:
    return {
        "id": f"{child.ap_id}/relay/{n}",
        "type": "Announce",
        "actor": child.ap_id,
        "object": object_id,
        "to": [PUBLIC],
    }


def _deliver(activity: dict, actor: Actor) -> None:
    handler = registry.handler_for("Announce", None)
    handler(activity, actor)


def test_relayed_announce_fetched_from_origin_and_stored_once(
    child_world, fake_server, hold_deliveries, django_capture_on_commit_callbacks
):
    """A relayed object is fetched (signed) from its origin, stored once even if relayed twice, and passed up once."""
    child, rel, note = child_world
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(_announce(child, note["id"], 1), child)
        _deliver(_announce(child, note["id"], 2), child)
    post = Post.objects.get(ap_id=note["id"])
    assert post.content == "<p>县里的消息</p>" and post.visibility == "public"
    assert RelayedObject.objects.count() == 1
    fetches = fake_server.requests_to("/objects/1", "GET")
    assert fetches and fetches[0].header("signature")
    relays = _relays()
    assert len(relays) == 1 and relays[0].body["object"] == note["id"]
    assert list(Delivery.objects.filter(activity=relays[0]).values_list("domain", flat=True)) == ["province.example"]
    rel.refresh_from_db()
    assert rel.last_seen_at is not None


def test_relayed_object_tombstoned_when_origin_says_gone(
    child_world, fake_server, hold_deliveries, django_capture_on_commit_callbacks
):
    """After the origin answers 410, a new relay of the object tombstones our copy."""
    child, _, note = child_world
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(_announce(child, note["id"], 1), child)
    fake_server.route("GET", "/objects/1", status=410, json={"id": note["id"], "type": "Tombstone"})
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(_announce(child, note["id"], 2), child)
    assert Post.objects.get(ap_id=note["id"]).deleted_at is not None
    assert RelayedObject.objects.get().deleted


def test_relayed_non_public_object_refused(child_world, fake_server, hold_deliveries):
    """An object its origin does not address publicly is refused and not stored."""
    from federation.inbound import Reject

    child, _, note = child_world
    fake_server.route("GET", "/objects/1", json={**note, "to": ["https://x/followers"]}, headers={"Content-Type": AS2})
    with pytest.raises(Reject):
        _deliver(_announce(child, note["id"], 1), child)
    assert not Post.objects.exists()
    assert not RelayedObject.objects.exists()


def test_announce_from_non_child_left_to_microblog(child_world, fake_server, make_remote_actor, hold_deliveries):
    """An Announce from an actor that is not a child is not treated as relayed content."""
    child, rel, note = child_world
    rel.state = RelationState.PENDING
    rel.save()
    _deliver(_announce(child, note["id"], 1), child)
    assert not RelayedObject.objects.exists()
    assert _relays() == []


def test_relayed_object_embedded_by_its_origin_stored_without_a_fetch(
    child_world, fake_server, hold_deliveries, django_capture_on_commit_callbacks
):
    """A child relaying its own member's note embedded (same host as the child's signed
    Announce) is stored as embedded: no fetch; passed up as a bare id (not our object)."""
    child, _, note = child_world
    with django_capture_on_commit_callbacks(execute=True):
        _deliver({**_announce(child, note["id"], 1), "object": note}, child)
    assert Post.objects.get(ap_id=note["id"]).content == "<p>县里的消息</p>"
    assert fake_server.requests_to("/objects/1", "GET") == []
    relays = _relays()
    assert len(relays) == 1 and relays[0].body["object"] == note["id"]


def test_embedded_copy_of_another_nodes_object_is_fetched_from_its_origin(
    child_world, fake_server, make_remote_actor, hold_deliveries, django_capture_on_commit_callbacks
):
    """A child relaying a copy of an object of another host (tampered here) is not believed:
    the object is fetched from its origin and stored as the origin serves it."""
    _, _, note = child_world
    other, _ = make_remote_actor("instance.actor", domain="county-b.example", type=ActorType.APPLICATION)
    NodeRelation.objects.create(
        actor=other, direction=RelationDirection.CHILD, state=RelationState.ACCEPTED, domain=other.domain
    )
    forged = {**note, "content": "<p>forged</p>"}
    with django_capture_on_commit_callbacks(execute=True):
        _deliver({**_announce(other, note["id"], 1), "object": forged}, other)
    assert Post.objects.get(ap_id=note["id"]).content == "<p>县里的消息</p>"
    assert len(fake_server.requests_to("/objects/1", "GET")) == 1


def test_embedded_non_public_object_refused(child_world, fake_server, hold_deliveries):
    """An embedded object its origin addresses to followers only is refused, not stored."""
    from federation.inbound import Reject

    child, _, note = child_world
    with pytest.raises(Reject):
        _deliver({**_announce(child, note["id"], 1), "object": {**note, "to": [f"{child.ap_id}/followers"]}}, child)
    assert not Post.objects.exists() and not RelayedObject.objects.exists()

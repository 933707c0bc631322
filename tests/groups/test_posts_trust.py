"""Members-only group posts at a third node: the group's ``Announce{Create}`` is the only copy
(the author's node serves only public posts), so the embedded post is trusted when the group
vouches for it (non-public, addressed to the group, authored by the Create's actor on the
object's host) and refused otherwise."""

from __future__ import annotations

import json

import pytest

from federation.inbound import process_item
from federation.models import Actor, ActorType, Follow, FollowState, InboxItem, InboxItemState
from federation.vocab import PUBLIC
from groups.models import GroupPost
from groups.posts import group_timeline
from groups.posts_inbound import vouched_by_group
from microblog.models import Post, Visibility

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
AS2 = "application/activity+json"


@pytest.fixture
def club(make_remote_actor, local_member) -> Actor:
    """A remote members-only group on groups.example that alice (local) belongs to."""
    group = make_remote_actor("club", domain="groups.example", type=ActorType.GROUP)[0]
    Follow.objects.create(follower=local_member, target=group, state=FollowState.ACCEPTED, ap_id="https://x/f/9")
    return group


@pytest.fixture
def zed(make_remote_actor, fake_server, settings) -> Actor:
    """zed, a member on a third node (the fake server), whose node 404s non-public posts."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    return make_remote_actor("zed", domain=fake_server.netloc, scheme="http")[0]


def members_only_create(author: Actor, group: Actor, object_url: str, **fields) -> dict:
    """``Create{Note}`` of a members-only group post as our nodes send it (to: the group only)."""
    obj = {
        "id": object_url,
        "type": "Note",
        "attributedTo": author.ap_id,
        "to": [group.ap_id],
        "cc": [],
        "audience": group.ap_id,
        "content": "<p>members only</p>",
        "published": "2025-01-01T00:00:00Z",
        "tag": [{"type": "Mention", "href": group.ap_id, "name": "@club@groups.example"}],
    }
    obj.update(fields)
    return {"id": f"{object_url}/activity", "type": "Create", "actor": author.ap_id, "to": obj["to"], "object": obj}


def deliver(activity: dict, actor: Actor) -> InboxItem:
    """Process ``activity`` from ``actor`` as the inbox worker does."""
    item = InboxItem.objects.create(
        activity_id=activity["id"],
        activity_type=activity["type"],
        actor_id=actor.ap_id,
        domain=actor.domain,
        body=json.dumps(activity),
    )
    process_item(item)
    item.refresh_from_db()
    return item


def test_members_only_post_vouched_by_group_stored_without_fetch(club, zed, fake_server, local_member):
    """A non-public post addressed to the group, announced unchanged by it, is stored from the
    embedded copy (no fetch of its origin) as a direct group post members see in the timeline."""
    create = members_only_create(zed, club, fake_server.url("/objects/1"))
    item = deliver(
        {"id": "https://groups.example/a/1", "type": "Announce", "actor": club.ap_id, "object": create}, club
    )
    assert item.state == InboxItemState.PROCESSED, item.error
    post = Post.objects.get(ap_id=create["object"]["id"])
    assert post.author_id == zed.pk and post.audience_id == club.pk and post.visibility == Visibility.DIRECT
    assert fake_server.requests_to("/objects/1", "GET") == []
    assert group_timeline(local_member, club) == [post]


def test_public_post_embedded_by_group_still_fetched_from_origin(club, zed, fake_server):
    """A public post of another host is never taken from the group's copy: the origin is asked,
    and when it does not have the post nothing is stored."""
    fake_server.route("GET", "/objects/2", status=404)
    create = members_only_create(zed, club, fake_server.url("/objects/2"), to=[PUBLIC, club.ap_id])
    item = deliver(
        {"id": "https://groups.example/a/2", "type": "Announce", "actor": club.ap_id, "object": create}, club
    )
    assert fake_server.requests_to("/objects/2", "GET")
    assert item.state != InboxItemState.PROCESSED or not Post.objects.exists()
    assert not Post.objects.exists() and not GroupPost.objects.exists()


def test_group_cannot_vouch_for_post_whose_actor_is_not_its_author(club, zed, fake_server, make_remote_actor):
    """A Create whose actor differs from the object's author (a forged attribution) is not
    vouched for; the origin's 404 leaves nothing stored."""
    fake_server.route("GET", "/objects/3", status=404)
    other = make_remote_actor("other", domain="elsewhere.example")[0]
    create = members_only_create(zed, club, fake_server.url("/objects/3"))
    create["actor"] = other.ap_id
    deliver({"id": "https://groups.example/a/3", "type": "Announce", "actor": club.ap_id, "object": create}, club)
    assert not Post.objects.exists() and not GroupPost.objects.exists()


def test_vouching_requires_the_post_to_be_addressed_to_the_announcing_group(club, zed, fake_server):
    """A group can only vouch for posts addressed to itself, never for another audience."""
    create = members_only_create(zed, club, fake_server.url("/objects/4"))
    assert vouched_by_group(create, club) is True
    elsewhere = members_only_create(zed, club, fake_server.url("/objects/4"), to=["https://other.example/g/x"])
    elsewhere["object"]["audience"] = "https://other.example/g/x"
    assert vouched_by_group(elsewhere, club) is False
    moved = members_only_create(zed, club, "https://groups.example/objects/4")  # author and object hosts differ
    assert vouched_by_group(moved, club) is False

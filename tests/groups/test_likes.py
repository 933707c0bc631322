"""Likes of group posts (FEP-1b12, as Lemmy does): our group announces the Like/Undo{Like} it
learns of for a post it carries, only from those who may see the post; a member's node counts
likes a remote group announces; likes of posts in a remote group also go to the group."""

from __future__ import annotations

import pytest

from federation.models import Delivery, Follow, FollowState, OutboxActivity
from groups.posts import create_group_post
from microblog import interactions
from microblog.models import Favourite, Post
from tests.groups.test_posts import deliver
from tests.groups.test_reading import members_only_announce

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]


@pytest.fixture
def carried(group, make_member, local_member, make_remote_actor, django_capture_on_commit_callbacks):
    """A members-only post of alice in branch1, whose members include bob@remote.example."""
    bob = make_remote_actor("bob", domain="remote.example")[0]
    make_member(group, local_member)
    make_member(group, bob)
    with django_capture_on_commit_callbacks(execute=True):
        post = create_group_post(local_member, group.actor, text="members only")
    return {"post": post, "bob": bob}


def announced(group_actor, kind: str) -> list[OutboxActivity]:
    return [
        a
        for a in OutboxActivity.objects.filter(actor=group_actor, type="Announce")
        if isinstance(a.body.get("object"), dict) and a.body["object"].get("type") == kind
    ]


def test_remote_member_like_announced_to_members(group, carried):
    """bob's Like of a carried post is counted and announced by the group to its members."""
    post, bob = carried["post"], carried["bob"]
    like = {"type": "Like", "object": post.ap_id, "id": f"{bob.ap_id}/likes/1"}
    assert deliver(like, bob).state == "processed"
    rows = announced(group.actor, "Like")
    assert [r.body["object"]["id"] for r in rows] == [like["id"]]
    assert Delivery.objects.filter(activity=rows[0], inbox_url=bob.delivery_inbox).exists()
    deliver(dict(like, id=f"{bob.ap_id}/likes/1b"), bob)  # the same like again (new id): announced once
    assert len(announced(group.actor, "Like")) == 1
    undo = {"type": "Undo", "object": like, "id": f"{bob.ap_id}/undo/1"}
    deliver(undo, bob)
    assert [r.body["object"]["id"] for r in announced(group.actor, "Undo")] == [undo["id"]]
    assert Post.objects.get(pk=post.pk).favourites_count == 0


def test_local_member_like_announced(group, carried, make_local_member, make_member):
    """A local member's like (no delivery of its own: the author is local) is announced by the group."""
    carol = make_local_member("carol")
    make_member(group, carol)
    fav = interactions.favourite(carol, carried["post"])
    assert [r.body["object"]["id"] for r in announced(group.actor, "Like")] == [fav.ap_id]
    interactions.unfavourite(carol, carried["post"])
    assert len(announced(group.actor, "Undo")) == 1


def test_non_member_like_of_members_only_post_not_announced(group, carried, make_remote_actor):
    """A non-member's Like of a members-only post is refused and never announced."""
    mallory = make_remote_actor("mallory", domain="evil.example")[0]
    deliver({"type": "Like", "object": carried["post"].ap_id}, mallory)
    assert announced(group.actor, "Like") == []
    assert not Favourite.objects.filter(actor=mallory).exists()


def test_like_of_remote_members_post_counted_by_group(group, make_member, make_remote_actor):
    """A Like sent to our group for a remote member's carried post is counted here and announced."""
    bob = make_remote_actor("bob", domain="remote.example")[0]
    zoe = make_remote_actor("zoe", domain="third.example")[0]
    make_member(group, bob)
    make_member(group, zoe)
    note = {
        "id": f"{bob.ap_id}/statuses/1",
        "type": "Note",
        "attributedTo": bob.ap_id,
        "to": [group.actor.ap_id],
        "audience": group.actor.ap_id,
        "content": "<p>hi</p>",
    }
    deliver({"type": "Create", "object": note}, bob)
    deliver({"type": "Like", "object": note["id"], "id": f"{zoe.ap_id}/likes/1"}, zoe)
    post = Post.objects.get(ap_id=note["id"])
    assert post.favourites_count == 1 and Favourite.objects.filter(actor=zoe, post=post).exists()
    assert len(announced(group.actor, "Like")) == 1


@pytest.fixture
def club(make_remote_actor, local_member):
    """club@groups.example, a remote group alice belongs to."""
    from federation.models import ActorType

    group = make_remote_actor("club", domain="groups.example", type=ActorType.GROUP)[0]
    Follow.objects.create(follower=local_member, target=group, state=FollowState.ACCEPTED, ap_id="https://x/f/9")
    return group


def test_announced_like_from_remote_group_counted(club, make_remote_actor):
    """Announce{Like} and Announce{Undo{Like}} from a group we belong to move the count here."""
    zed = make_remote_actor("zed", domain="members.example")[0]
    deliver(members_only_announce(club, zed), club)
    post = Post.objects.get(ap_id=f"{zed.ap_id}/statuses/1")
    like = {"id": f"{zed.ap_id}/likes/1", "type": "Like", "actor": zed.ap_id, "object": post.ap_id}
    deliver({"type": "Announce", "id": f"{club.ap_id}/a/like1", "object": like}, club)
    assert Post.objects.get(pk=post.pk).favourites_count == 1
    deliver({"type": "Announce", "id": f"{club.ap_id}/a/like1b", "object": like}, club)  # replay
    assert Post.objects.get(pk=post.pk).favourites_count == 1
    undo = {"id": f"{zed.ap_id}/undo/1", "type": "Undo", "actor": zed.ap_id, "object": like}
    deliver({"type": "Announce", "id": f"{club.ap_id}/a/undo1", "object": undo}, club)
    assert Post.objects.get(pk=post.pk).favourites_count == 0


def test_local_like_of_remote_group_post_sent_to_group(club, local_member, make_remote_actor):
    """alice's like of a post in a remote group goes to the author and to the group's inbox."""
    zed = make_remote_actor("zed", domain="members.example")[0]
    deliver(members_only_announce(club, zed), club)
    post = Post.objects.get(ap_id=f"{zed.ap_id}/statuses/1")
    interactions.favourite(local_member, post)
    like = OutboxActivity.objects.get(actor=local_member, type="Like")
    inboxes = set(Delivery.objects.filter(activity=like).values_list("inbox_url", flat=True))
    assert inboxes == {zed.inbox_url, club.delivery_inbox}

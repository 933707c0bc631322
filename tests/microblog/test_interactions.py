"""Likes, boosts, bookmarks, pins, mutes and blocks: services, what they federate, and the
inbound handlers for the remote side."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from federation.inbound import Reject, process_item
from federation.models import ActorBlock, Delivery, Follow, FollowState, InboxItem, InboxItemState, OutboxActivity
from federation.views import featured_view
from federation.vocab import PUBLIC
from microblog import interactions
from microblog.interactions import InteractionError
from microblog.interactions_inbound import (
    handle_announce,
    handle_block,
    handle_like,
    handle_undo_announce,
    handle_undo_like,
)
from microblog.models import Bookmark, Favourite, Mute, Notification, Pin, Post
from microblog.services import create_post

pytestmark = pytest.mark.django_db


def remote_post(author, ap_id, visibility="public"):
    return Post.objects.create(ap_id=ap_id, author=author, local=False, visibility=visibility, content="<p>hi</p>")


def counters(post):
    post.refresh_from_db()
    return post.favourites_count, post.reblogs_count


def like(actor, post, n=1, **extra):
    return {"id": f"{actor.ap_id}#likes/{n}", "type": "Like", "actor": actor.ap_id, "object": post.ap_id, **extra}


def undo(actor, inner, n=1):
    return {"id": f"{actor.ap_id}#undo/{n}", "type": "Undo", "actor": actor.ap_id, "object": inner}


def announce(actor, object_ref, n=1):
    return {
        "id": f"{actor.ap_id}/statuses/{n}/activity",
        "type": "Announce",
        "actor": actor.ap_id,
        "to": [PUBLIC],
        "cc": [actor.followers_url or f"{actor.ap_id}/followers"],
        "object": object_ref,
    }


def follow(follower, target):
    return Follow.objects.create(
        follower=follower, target=target, state=FollowState.ACCEPTED, ap_id=f"{follower.ap_id}#follows/{target.pk}"
    )


# ---------------------------------------------------------------- likes


def test_favourite_is_idempotent_and_notifies_local_author(local_member, make_local_member):
    """Liking twice counts once and notifies the author once; unliking twice goes back to 0."""
    post = create_post(local_member, text="hello")
    bob = make_local_member("bob")
    interactions.favourite(bob, post)
    interactions.favourite(bob, post)
    assert counters(post) == (1, 0)
    assert Notification.objects.filter(recipient=local_member, type="favourite", from_actor=bob).count() == 1
    interactions.unfavourite(bob, post)
    interactions.unfavourite(bob, post)
    assert counters(post) == (0, 0)
    assert not Favourite.objects.exists()
    assert not OutboxActivity.objects.filter(type__in=["Like", "Undo"]).exists()


def test_favourite_remote_post_sends_like_and_undo_to_author_only(local_member, make_remote_actor):
    """A like of a remote post goes to the author's inbox; the Undo embeds the same Like."""
    author, _ = make_remote_actor("dave", domain="remote.example")
    post = remote_post(author, "https://remote.example/notes/1")
    fav = interactions.favourite(local_member, post)
    sent = OutboxActivity.objects.get(type="Like")
    assert sent.body["id"] == fav.ap_id and sent.body["object"] == post.ap_id
    assert sent.body["actor"] == local_member.ap_id
    assert list(Delivery.objects.filter(activity=sent).values_list("inbox_url", flat=True)) == [author.inbox_url]
    interactions.unfavourite(local_member, post)
    undone = OutboxActivity.objects.get(type="Undo")
    assert undone.body["object"]["id"] == fav.ap_id and undone.body["object"]["type"] == "Like"
    assert list(Delivery.objects.filter(activity=undone).values_list("inbox_url", flat=True)) == [author.inbox_url]
    assert counters(post) == (0, 0)


def test_favourite_refused_for_invisible_post(local_member, make_local_member):
    """A followers-only post cannot be liked by a non-follower; nothing is stored."""
    post = create_post(local_member, text="friends only", visibility="private")
    with pytest.raises(InteractionError):
        interactions.favourite(make_local_member("bob"), post)
    assert counters(post) == (0, 0)
    assert not Favourite.objects.exists()


def test_inbound_like_replay_counts_once(local_member, make_remote_actor):
    """The same remote Like processed twice counts once and notifies once."""
    post = create_post(local_member, text="hello")
    bob, _ = make_remote_actor("bob")
    handle_like(like(bob, post), bob)
    handle_like(like(bob, post), bob)
    assert counters(post) == (1, 0)
    assert Notification.objects.filter(recipient=local_member, type="favourite").count() == 1


def test_inbound_misskey_reaction_and_emoji_react_count_as_likes(local_member, make_remote_actor, fixture_path):
    """Misskey's Like with ``_misskey_reaction`` and Pleroma's EmojiReact are stored as favourites."""
    post = create_post(local_member, text="hello")
    misskey, _ = make_remote_actor("admin", domain="misskey.xyz")
    doc = json.loads(fixture_path("misskey/like_reaction.json").read_text())
    doc.update({"actor": misskey.ap_id, "object": post.ap_id})
    handle_like(doc, misskey)
    pleroma, _ = make_remote_actor("lain", domain="pleroma.example")
    handle_like(like(pleroma, post, type="EmojiReact", content="🍮"), pleroma)
    assert counters(post) == (2, 0)
    assert set(Favourite.objects.values_list("actor_id", flat=True)) == {misskey.pk, pleroma.pk}


def test_inbound_undo_like_by_another_actor_rejected(local_member, make_remote_actor):
    """Only the liker may undo a like: someone else's Undo is refused and the like stays."""
    post = create_post(local_member, text="hello")
    bob, _ = make_remote_actor("bob")
    eve, _ = make_remote_actor("eve", domain="evil.example")
    activity = like(bob, post)
    handle_like(activity, bob)
    with pytest.raises(Reject):
        handle_undo_like(undo(eve, activity), eve)
    assert counters(post) == (1, 0)
    handle_undo_like(undo(bob, activity), bob)
    handle_undo_like(undo(bob, activity, 2), bob)
    assert counters(post) == (0, 0)
    assert not Favourite.objects.exists()


def test_inbound_like_of_private_post_by_stranger_rejected(local_member, make_remote_actor):
    """A remote actor cannot like a followers-only post it cannot see."""
    post = create_post(local_member, text="friends only", visibility="private")
    bob, _ = make_remote_actor("bob")
    with pytest.raises(Reject):
        handle_like(like(bob, post), bob)
    assert counters(post) == (0, 0)
    assert not Notification.objects.exists()


# ---------------------------------------------------------------- boosts


def test_reblog_of_private_post_refused(local_member):
    """Followers-only and direct posts cannot be boosted; nothing is stored or sent."""
    for visibility in ("private", "direct"):
        post = create_post(local_member, text=f"{visibility} post", visibility=visibility)
        OutboxActivity.objects.all().delete()
        with pytest.raises(InteractionError):
            interactions.reblog(local_member, post)
        assert counters(post) == (0, 0)
    assert not Post.objects.filter(reblog_of__isnull=False).exists()
    assert not OutboxActivity.objects.exists()


def test_reblog_announces_to_followers_and_author(local_member, make_remote_actor):
    """A boost is one row, addressed to Public with author and followers in cc, and delivered
    to the followers and the original author; unboosting sends Undo{Announce}."""
    author, _ = make_remote_actor("dave", domain="authors.example")
    fan, _ = make_remote_actor("fan", domain="fans.example")
    follow(fan, local_member)
    post = remote_post(author, "https://authors.example/notes/1")
    boost = interactions.reblog(local_member, post)
    assert interactions.reblog(local_member, post).pk == boost.pk
    assert counters(post) == (0, 1)
    sent = OutboxActivity.objects.get(type="Announce")
    assert sent.body["id"] == boost.ap_id and sent.body["object"] == post.ap_id
    assert sent.body["to"] == [PUBLIC]
    assert sent.body["cc"] == [author.ap_id, local_member.followers_url]
    inboxes = set(Delivery.objects.filter(activity=sent).values_list("inbox_url", flat=True))
    assert inboxes == {fan.shared_inbox_url, author.inbox_url}
    interactions.unreblog(local_member, post)
    assert counters(post) == (0, 0)
    assert not Post.objects.filter(pk=boost.pk).exists()
    undone = OutboxActivity.objects.get(type="Undo")
    assert undone.body["object"]["id"] == boost.ap_id
    assert set(Delivery.objects.filter(activity=undone).values_list("inbox_url", flat=True)) == inboxes


def test_inbound_announce_of_local_post_counts_and_notifies(local_member, make_remote_actor):
    """A remote boost of a local post stores one boost row, counts it and notifies the author;
    a replay changes nothing and only the booster can undo it."""
    post = create_post(local_member, text="hello")
    bob, _ = make_remote_actor("bob")
    eve, _ = make_remote_actor("eve", domain="evil.example")
    activity = announce(bob, post.ap_id)
    handle_announce(activity, bob)
    handle_announce(activity, bob)
    assert counters(post) == (0, 1)
    assert Notification.objects.filter(recipient=local_member, type="reblog", from_actor=bob).count() == 1
    with pytest.raises(Reject):
        handle_undo_announce(undo(eve, {"id": activity["id"], "type": "Announce"}), eve)
    assert counters(post) == (0, 1)
    handle_undo_announce(undo(bob, activity), bob)
    assert counters(post) == (0, 0)
    assert not Post.objects.filter(reblog_of=post).exists()


def test_inbound_announce_by_blocked_actor_rejected(local_member, make_remote_actor):
    """A remote actor the author blocks cannot boost the author's post."""
    post = create_post(local_member, text="hello")
    bob, _ = make_remote_actor("bob")
    ActorBlock.objects.create(owner=local_member, target=bob)
    with pytest.raises(Reject):
        handle_announce(announce(bob, post.ap_id), bob)
    assert counters(post) == (0, 0)
    assert not Post.objects.filter(reblog_of=post).exists()
    assert not Notification.objects.exists()


@pytest.fixture
def origin(settings, fake_server, make_remote_actor):
    """A remote author whose server is the loopback fake server, serving one public note."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    author, _ = make_remote_actor("dave", domain=fake_server.netloc, scheme="http")
    note_id = fake_server.url("/notes/1")
    fake_server.route(
        "GET",
        "/notes/1",
        json={
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": note_id,
            "type": "Note",
            "attributedTo": author.ap_id,
            "content": "<p>the real words</p>",
            "published": "2024-05-01T10:00:00Z",
            "to": [PUBLIC],
            "cc": [f"{author.ap_id}/followers"],
        },
        headers={"Content-Type": "application/activity+json"},
    )
    return author, note_id


def test_inbound_announce_fetches_unknown_object_from_origin(origin, fake_server, make_remote_actor):
    """An Announce of an unknown post fetches it from its origin; the embedded (forged) copy
    from the booster's host is ignored."""
    author, note_id = origin
    booster, _ = make_remote_actor("bob", domain="boosters.example")
    forged = {"id": note_id, "type": "Note", "attributedTo": author.ap_id, "content": "<p>forged</p>"}
    handle_announce(announce(booster, forged), booster)
    original = Post.objects.get(ap_id=note_id)
    assert "the real words" in original.content and "forged" not in original.content
    assert original.author == author
    assert Post.objects.get(reblog_of=original).author == booster
    assert counters(original) == (0, 1)
    assert fake_server.requests_to("/notes/1", "GET")


def test_inbound_announce_refused_when_origin_does_not_serve_object(settings, fake_server, make_remote_actor):
    """When the origin does not have the announced object, the embedded copy is not trusted:
    the Announce is rejected and nothing is stored."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    author, _ = make_remote_actor("dave", domain=fake_server.netloc, scheme="http")
    booster, _ = make_remote_actor("bob", domain="boosters.example")
    note_id = fake_server.url("/notes/missing")
    forged = {"id": note_id, "type": "Note", "attributedTo": author.ap_id, "content": "<p>forged</p>"}
    with pytest.raises(Reject):
        handle_announce(announce(booster, forged), booster)
    assert not Post.objects.exists()
    assert fake_server.requests_to("/notes/missing", "GET")


def test_inbound_announce_with_foreign_activity_id_rejected(local_member, make_remote_actor):
    """An Announce whose id is not on the actor's host is refused."""
    post = create_post(local_member, text="hello")
    bob, _ = make_remote_actor("bob")
    activity = announce(bob, post.ap_id)
    activity["id"] = "https://elsewhere.example/activity/1"
    with pytest.raises(Reject):
        handle_announce(activity, bob)
    assert counters(post) == (0, 0)


def test_inbound_like_through_inbox_processing(local_member, make_remote_actor):
    """A stored inbox Like is dispatched to the like handler and counted."""
    post = create_post(local_member, text="hello")
    bob, _ = make_remote_actor("bob")
    activity = like(bob, post)
    item = InboxItem.objects.create(
        activity_id=activity["id"],
        activity_type="Like",
        actor_id=bob.ap_id,
        domain=bob.domain,
        body=json.dumps(activity),
    )
    process_item(item)
    item.refresh_from_db()
    assert item.state == InboxItemState.PROCESSED
    assert counters(post) == (1, 0)


# ---------------------------------------------------------------- bookmarks and mutes


def test_bookmark_is_local_and_idempotent(local_member, make_remote_actor):
    """Bookmarking twice keeps one row and federates nothing; unbookmarking removes it."""
    author, _ = make_remote_actor("dave")
    post = remote_post(author, "https://remote.example/notes/9")
    interactions.bookmark(local_member.user, post)
    interactions.bookmark(local_member.user, post)
    assert Bookmark.objects.filter(user=local_member.user, post=post).count() == 1
    assert not OutboxActivity.objects.exists()
    interactions.unbookmark(local_member.user, post)
    assert not Bookmark.objects.exists()


def test_mute_with_duration_and_unmute(local_member, make_remote_actor):
    """Muting stores the options and an expiry; muting again updates them; unmute removes it."""
    bob, _ = make_remote_actor("bob")
    row = interactions.mute(local_member, bob, notifications=False, duration=3600)
    assert row.expires_at is not None and row.notifications is False
    row = interactions.mute(local_member, bob)
    assert Mute.objects.count() == 1 and row.expires_at is None and row.notifications is True
    with pytest.raises(InteractionError):
        interactions.mute(local_member, local_member)
    interactions.unmute(local_member, bob)
    assert not Mute.objects.exists()


# ---------------------------------------------------------------- pins


def test_pin_limits_and_featured_collection(local_member, make_local_member, make_remote_actor, settings):
    """Own public posts pin up to 5, with Add sent to followers and served in ``featured``;
    others' posts, private posts and a sixth pin are refused."""
    fan, _ = make_remote_actor("fan", domain="fans.example")
    follow(fan, local_member)
    posts = [create_post(local_member, text=f"post {i}") for i in range(6)]
    for post in posts[:5]:
        interactions.pin(local_member, post)
    interactions.pin(local_member, posts[0])  # idempotent
    with pytest.raises(InteractionError):
        interactions.pin(local_member, posts[5])
    with pytest.raises(InteractionError):
        interactions.pin(local_member, create_post(local_member, text="secret", visibility="private"))
    with pytest.raises(InteractionError):
        interactions.pin(make_local_member("bob"), posts[5])
    assert Pin.objects.count() == 5
    adds = OutboxActivity.objects.filter(type="Add")
    assert adds.count() == 5
    add = adds.first()
    assert add.body["target"] == local_member.featured_url
    assert list(add.deliveries.values_list("inbox_url", flat=True)) == [fan.shared_inbox_url]
    interactions.unpin(local_member, posts[0])
    remove = OutboxActivity.objects.get(type="Remove")
    assert remove.body["object"] == posts[0].ap_id
    request = RequestFactory().get(local_member.featured_url, HTTP_ACCEPT="application/activity+json")
    response = featured_view(request, local_member.pk)
    assert response.status_code == 200
    doc = json.loads(response.content)
    assert doc["totalItems"] == 4
    assert {item["id"] for item in doc["orderedItems"]} == {p.ap_id for p in posts[1:5]}


# ---------------------------------------------------------------- blocks


def test_block_removes_follows_both_ways_and_sends_block(local_member, make_remote_actor):
    """Blocking ends both follows (Undo{Follow}, Reject{Follow}) and sends Block to the target;
    unblocking sends Undo{Block} of that Block."""
    bob, _ = make_remote_actor("bob")
    follow(local_member, bob)
    follow(bob, local_member)
    interactions.block(local_member, bob)
    assert ActorBlock.objects.filter(owner=local_member, target=bob).exists()
    assert not Follow.objects.exists()
    sent = OutboxActivity.objects.get(type="Block")
    assert sent.body["object"] == bob.ap_id
    assert list(sent.deliveries.values_list("inbox_url", flat=True)) == [bob.inbox_url]
    assert OutboxActivity.objects.filter(type="Undo", body__object__type="Follow").count() == 1
    assert OutboxActivity.objects.filter(type="Reject").count() == 1
    interactions.block(local_member, bob)
    assert OutboxActivity.objects.filter(type="Block").count() == 1
    interactions.unblock(local_member, bob)
    assert not ActorBlock.objects.exists()
    undo_block = OutboxActivity.objects.get(type="Undo", body__object__type="Block")
    assert undo_block.body["object"]["id"] == sent.ap_id


def test_inbound_block_records_and_drops_follows(local_member, make_remote_actor):
    """A remote Block is recorded; the blocker's follow of the member is dropped and the
    member's follow of the blocker withdrawn."""
    bob, _ = make_remote_actor("bob")
    follow(bob, local_member)
    follow(local_member, bob)
    handle_block(
        {"id": f"{bob.ap_id}#blocks/1", "type": "Block", "actor": bob.ap_id, "object": local_member.ap_id}, bob
    )
    assert ActorBlock.objects.filter(owner=bob, target=local_member).exists()
    assert not Follow.objects.exists()
    assert OutboxActivity.objects.filter(type="Undo", body__object__type="Follow").count() == 1

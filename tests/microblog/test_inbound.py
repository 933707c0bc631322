"""Inbound Create/Update/Delete of posts: trust (author, origin), idempotency, storage rule,
notifications; processed through federation's inbox worker as real items are."""

from __future__ import annotations

import itertools
import json

import pytest

from federation.inbound import process_item
from federation.models import InboxItem, InboxItemState
from federation.registry import count
from federation.vocab import PUBLIC
from microblog import services
from microblog.models import Notification, Post, PostEdit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
AS2 = "application/activity+json"
_ids = itertools.count(1)


def deliver(activity: dict, actor, *, recipient=None, callbacks=None) -> InboxItem:
    """Store ``activity`` as a verified inbox item from ``actor`` and process it like the worker."""
    activity.setdefault("id", f"{actor.ap_id}/activities/{next(_ids)}")
    activity.setdefault("actor", actor.ap_id)
    item = InboxItem.objects.create(
        activity_id=activity["id"],
        activity_type=activity["type"],
        actor_id=actor.ap_id,
        domain=actor.domain,
        recipient=recipient,
        body=json.dumps(activity),
    )
    process_item(item)
    item.refresh_from_db()
    return item


def note(actor, n: int = 1, **fields) -> dict:
    doc = {
        "id": f"{actor.ap_id}/statuses/{n}",
        "type": "Note",
        "attributedTo": actor.ap_id,
        "to": [PUBLIC],
        "cc": [f"{actor.ap_id}/followers"],
        "content": "<p>hello</p>",
        "published": "2025-01-01T00:00:00Z",
    }
    doc.update(fields)
    return doc


def create(obj: dict, **fields) -> dict:
    return {"type": "Create", "object": obj, "to": obj.get("to", []), **fields}


def test_create_from_followed_actor_is_stored(alice, bob):
    """A public note by someone a member follows is stored and visible."""
    item = deliver(create(note(bob)), bob)
    assert item.state == InboxItemState.PROCESSED and item.error == ""
    post = Post.objects.get(ap_id=f"{bob.ap_id}/statuses/1")
    assert post.author == bob and post.content == "<p>hello</p>" and post.visibility == "public"
    assert services.visible_posts(None).filter(pk=post.pk).exists()


def test_create_nobody_here_wants_is_dropped(local_member, mallory):
    """A public note from an actor nobody follows, mentioning nobody here, is not stored."""
    item = deliver(create(note(mallory)), mallory)
    assert item.state == InboxItemState.PROCESSED
    assert not Post.objects.exists()


def test_spoofed_attributed_to_is_rejected(alice, bob, mallory):
    """mallory cannot create a note attributed to bob (same host): rejected, nothing stored."""
    forged = note(bob, 7, id=f"{mallory.ap_id}/statuses/7")
    item = deliver(create(forged), mallory)
    assert item.state == InboxItemState.REJECTED and "attributedTo" in item.error
    assert not Post.objects.exists()


def test_update_by_non_author_is_rejected(alice, bob, mallory):
    """An Update of bob's note by mallory (claiming authorship) is rejected and changes nothing."""
    deliver(create(note(bob)), bob)
    hijack = note(bob, content="<p>pwned</p>", attributedTo=mallory.ap_id)
    item = deliver({"type": "Update", "object": hijack}, mallory)
    assert item.state == InboxItemState.REJECTED
    post = Post.objects.get()
    assert post.content == "<p>hello</p>" and post.edited_at is None and not PostEdit.objects.exists()


def test_update_by_author_edits_with_history(alice, bob, django_capture_on_commit_callbacks):
    """The author's Update changes the text, keeps the history and sets edited_at."""
    deliver(create(note(bob)), bob)
    with django_capture_on_commit_callbacks(execute=True):
        item = deliver(
            {"type": "Update", "object": note(bob, content="<p>edited</p>", updated="2025-01-02T00:00:00Z")}, bob
        )
    assert item.state == InboxItemState.PROCESSED
    post = Post.objects.get()
    assert post.content == "<p>edited</p>" and post.edited_at.year == 2025
    assert PostEdit.objects.filter(post=post).count() == 2


def test_replayed_create_changes_nothing(alice, bob, django_capture_on_commit_callbacks):
    """The same Create processed twice (new activity id) stores one post and one notification."""
    obj = note(bob, tag=[{"type": "Mention", "href": alice.ap_id, "name": "@alice"}])
    with django_capture_on_commit_callbacks(execute=True):
        deliver(create(obj), bob)
        deliver(create(dict(obj, content="<p>changed</p>")), bob)
    post = Post.objects.get()
    assert post.content == "<p>hello</p>"
    assert Notification.objects.filter(recipient=alice, type="mention", post=post).count() == 1


def test_create_after_delete_does_not_resurrect(alice, bob):
    """Create, Delete, then the Create again: the post stays a tombstone."""
    obj = note(bob)
    deliver(create(obj), bob)
    deliver({"type": "Delete", "object": {"id": obj["id"], "type": "Tombstone"}}, bob)
    item = deliver(create(obj), bob)
    assert item.state == InboxItemState.PROCESSED
    post = Post.objects.get()
    assert post.deleted_at is not None and post.content == ""


def test_delete_before_create_is_remembered(alice, bob):
    """A Delete of an id we do not have yet makes a late Create of it be dropped."""
    obj = note(bob, 9)
    deliver({"type": "Delete", "object": obj["id"]}, bob)
    deliver(create(obj), bob)
    assert not Post.objects.exists()


def test_delete_by_non_author_is_rejected(alice, bob, mallory):
    """mallory cannot delete bob's post."""
    obj = note(bob)
    deliver(create(obj), bob)
    item = deliver({"type": "Delete", "object": obj["id"]}, mallory)
    assert item.state == InboxItemState.REJECTED
    assert Post.objects.get().deleted_at is None


def test_mastodon_delete_tombstone_fixture(local_member, make_remote_actor, make_follow, load_fixture):
    """Mastodon's Delete{Tombstone} removes the stored status and fixes the parent's count."""
    felix = make_remote_actor("felix", domain="mastodon.madrid")[0]
    make_follow(local_member, felix)
    doc = load_fixture("mastodon/delete_tombstone.json")
    status_id = doc["object"]["id"]
    parent = services.create_post(local_member, text="root")
    deliver(create(note(felix, id=status_id, attributedTo=felix.ap_id, inReplyTo=parent.ap_id)), felix)
    parent.refresh_from_db()
    assert parent.replies_count == 1
    item = deliver(dict(doc), felix)
    assert item.state == InboxItemState.PROCESSED
    post = Post.objects.get(ap_id=status_id)
    parent.refresh_from_db()
    assert post.deleted_at is not None and parent.replies_count == 0


def test_lemmy_delete_with_bare_id(local_member, make_remote_actor, make_follow, load_fixture):
    """Lemmy's Delete names the post by a bare id; the post is tombstoned."""
    alpha = make_remote_actor("lemmy_alpha", domain="ds9.lemmy.ml", scheme="http")[0]
    alpha.ap_id = "http://ds9.lemmy.ml/u/lemmy_alpha"
    alpha.save()
    make_follow(local_member, alpha)
    page = load_fixture("lemmy/update_page.json")["object"]
    deliver({"type": "Create", "object": page}, alpha)
    item = deliver(load_fixture("lemmy/delete_page.json"), alpha)
    assert item.state == InboxItemState.PROCESSED
    assert Post.objects.get(ap_id="http://ds9.lemmy.ml/post/1").deleted_at is not None


def test_reply_to_local_post_notifies_author(local_member, mallory, django_capture_on_commit_callbacks):
    """A reply from a stranger to a member's post is stored and notifies the member (reply)."""
    parent = services.create_post(local_member, text="root")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(create(note(mallory, inReplyTo=parent.ap_id)), mallory)
    reply = Post.objects.get(author=mallory)
    parent.refresh_from_db()
    assert reply.in_reply_to == parent and parent.replies_count == 1
    assert list(Notification.objects.values_list("recipient", "type")) == [(local_member.pk, "reply")]


def test_reply_mentioning_author_is_one_mention(local_member, mallory, django_capture_on_commit_callbacks):
    """A reply that also mentions the author gives one ``mention`` notification, as Mastodon does."""
    parent = services.create_post(local_member, text="root")
    tag = [{"type": "Mention", "href": local_member.ap_id, "name": "@alice"}]
    with django_capture_on_commit_callbacks(execute=True):
        deliver(create(note(mallory, inReplyTo=parent.ap_id, tag=tag)), mallory)
    assert list(Notification.objects.values_list("type", flat=True)) == ["mention"]


def test_direct_message_to_member_is_stored_private(
    local_member, make_local_member, mallory, django_capture_on_commit_callbacks
):
    """A note addressed only to a member is a direct post only that member sees, with a notification."""
    other = make_local_member("carl")
    dm = note(mallory, to=[local_member.ap_id], cc=[])
    with django_capture_on_commit_callbacks(execute=True):
        deliver(create(dm), mallory, recipient=local_member)
    post = Post.objects.get()
    assert post.visibility == "direct"
    assert services.visible_posts(local_member).filter(pk=post.pk).exists()
    assert not services.visible_posts(other).filter(pk=post.pk).exists()
    assert Notification.objects.filter(recipient=local_member, type="mention").exists()


def test_delivery_to_members_inbox_is_stored(local_member, mallory):
    """A public note delivered to a member's own inbox is kept even when it names nobody here."""
    deliver(create(note(mallory)), mallory, recipient=local_member)
    assert Post.objects.filter(author=mallory).exists()


def test_remote_html_is_sanitised(alice, bob):
    """Scripts in a remote note never reach storage."""
    deliver(create(note(bob, content='<p>hi<script>alert(1)</script><img src=x onerror="y()"></p>')), bob)
    assert Post.objects.get().content == "<p>hi</p>"


@pytest.fixture
def served(settings, fake_server):
    """The fake server plays a remote host: documents served as AS2 at ``path``."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True

    def serve(path: str, doc: dict) -> str:
        fake_server.route("GET", path, json=doc, headers={"Content-Type": AS2})
        return fake_server.url(path)

    return serve


def test_cross_origin_embedded_object_is_refetched(alice, bob, served, fake_server):
    """An embedded object from another host is fetched from its origin; the origin's author wins."""
    origin_id = fake_server.url("/notes/1")
    served("/notes/1", note(bob, id=origin_id, attributedTo=fake_server.url("/users/zed"), content="<p>real</p>"))
    forged = note(bob, id=origin_id, content="<p>forged</p>")
    item = deliver(create(forged), bob)
    assert item.state == InboxItemState.REJECTED
    assert not Post.objects.exists()
    request = fake_server.requests_to("/notes/1", "GET")[0]
    assert request.header("signature")


def test_bare_object_id_is_fetched_and_stored(local_member, make_remote_actor, make_follow, served, fake_server):
    """A Create naming its object by id is fetched from the origin and stored with the origin's content."""
    zed = make_remote_actor("zed", domain=fake_server.netloc, scheme="http")[0]
    make_follow(local_member, zed)
    url = served("/notes/2", note(zed, id=fake_server.url("/notes/2"), content="<p>from origin</p>"))
    item = deliver({"type": "Create", "object": url}, zed)
    assert item.state == InboxItemState.PROCESSED, item.error
    assert Post.objects.get(ap_id=url).content == "<p>from origin</p>"


def test_unknown_parent_is_fetched_once(local_member, make_remote_actor, make_follow, served, fake_server):
    """A reply to an unknown post fetches that parent once (not its own parent) and links the thread."""
    zed = make_remote_actor("zed", domain=fake_server.netloc, scheme="http")[0]
    make_follow(local_member, zed)
    grand = fake_server.url("/notes/0")
    parent_url = served("/notes/1", note(zed, id=fake_server.url("/notes/1"), inReplyTo=grand))
    deliver(create(note(zed, id=fake_server.url("/notes/2"), inReplyTo=parent_url)), zed)
    reply = Post.objects.get(ap_id=fake_server.url("/notes/2"))
    assert reply.in_reply_to is not None and reply.in_reply_to.ap_id == parent_url
    assert len(fake_server.requests_to("/notes/1", "GET")) == 1
    assert fake_server.requests_to("/notes/0") == []


def test_nodeinfo_counters_count_local_posts_and_replies(local_member):
    """localPosts counts live local posts; localComments the replies among them."""
    root = services.create_post(local_member, text="a")
    services.create_post(local_member, text="b", in_reply_to=root)
    gone = services.create_post(local_member, text="c")
    services.delete_post(local_member, gone)
    assert count("localPosts") == 2 and count("localComments") == 1


def test_remote_actor_cannot_create_our_object_ids(alice, bob):
    """A Create whose object claims one of our own ids is rejected without fetching anything."""
    own = services.create_post(alice, text="mine")
    item = deliver(create(note(bob, id=own.ap_id)), bob)
    assert item.state == InboxItemState.REJECTED
    own.refresh_from_db()
    assert "mine" in own.content and Post.objects.count() == 1


def test_poll_totals_update_does_not_notify_boosters(alice, bob, make_local_member, django_capture_on_commit_callbacks):
    """An Update that only changes poll totals is not an edit: no history, no update notification."""
    question = note(
        bob, type="Question", oneOf=[{"type": "Note", "name": n, "replies": {"totalItems": 0}} for n in "ab"]
    )
    deliver(create(question), bob)
    post = Post.objects.get()
    Post.objects.create(ap_id="https://x.example/boost", author=alice, reblog_of=post, local=True)
    question["oneOf"][0]["replies"]["totalItems"] = 3
    with django_capture_on_commit_callbacks(execute=True):
        item = deliver({"type": "Update", "object": question}, bob)
    assert item.state == InboxItemState.PROCESSED
    post.refresh_from_db()
    assert post.edited_at is None and not PostEdit.objects.exists()
    assert [o.votes_count for o in post.poll.options.all()] == [3, 0]
    assert not Notification.objects.filter(type="update").exists()

"""Mastodon entities from our rows: Status (with viewer flags, boosts, polls, media), batching
without N+1, Notification, Tag, Relationship."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from microblog.api import account_serializers, serializers
from microblog.models import (
    Bookmark,
    Favourite,
    Hashtag,
    Media,
    Mention,
    Notification,
    Poll,
    PollOption,
    PollVote,
    Post,
)

STATUS_KEYS = {
    "id", "uri", "url", "account", "in_reply_to_id", "in_reply_to_account_id", "reblog", "content", "created_at",
    "edited_at", "emojis", "replies_count", "reblogs_count", "favourites_count", "sensitive", "spoiler_text",
    "visibility", "media_attachments", "mentions", "tags", "card", "poll", "application", "language", "filtered",
}  # fmt: skip
ACCOUNT_KEYS = {
    "id", "username", "acct", "display_name", "locked", "bot", "discoverable", "group", "created_at", "note", "url",
    "uri", "avatar", "avatar_static", "header", "header_static", "followers_count", "following_count",
    "statuses_count", "last_status_at", "emojis", "fields",
}  # fmt: skip


def _post(author, n: int, **fields) -> Post:
    fields.setdefault("content", f"<p>post {n}</p>")
    return Post.objects.create(ap_id=f"{author.ap_id}/posts/{n}", local=author.local, author=author, **fields)


def test_status_shape_and_viewer_flags(local_member, make_local_member):
    """A status has Mastodon's keys, ids as strings, and the viewer's favourite/bookmark flags."""
    bob = make_local_member("bob")
    post = _post(bob, 1, summary="cw", sensitive=True, language="en")
    reply = _post(local_member, 2, in_reply_to=post)
    Favourite.objects.create(actor=local_member, post=post)
    Bookmark.objects.create(user=local_member.user, post=post)
    Mention.objects.create(post=post, actor=local_member)
    Hashtag.objects.create(name="党员").posts.add(post)
    data = serializers.status(post, viewer=local_member)
    assert STATUS_KEYS <= set(data)
    assert ACCOUNT_KEYS <= set(data["account"])
    assert data["id"] == str(post.pk)
    assert data["account"]["statuses_count"] == 1
    assert data["spoiler_text"] == "cw"
    assert data["favourited"] is True
    assert data["bookmarked"] is True
    assert data["reblogged"] is False
    assert data["mentions"] == [
        {"id": str(local_member.pk), "username": "alice", "url": local_member.url, "acct": "alice"}
    ]
    assert data["tags"][0]["name"] == "党员"
    assert data["created_at"].endswith("Z")
    anonymous = serializers.status(post, viewer=None)
    assert "favourited" not in anonymous
    assert serializers.status(reply, viewer=None)["in_reply_to_account_id"] == str(bob.pk)


def test_reblog_embeds_original(local_member, make_remote_actor):
    """A boost has empty content and embeds the boosted status; ``reblogged`` marks the viewer's boost."""
    remote, _ = make_remote_actor("bob", domain="remote.example")
    original = _post(remote, 1)
    boost = _post(local_member, 2, reblog_of=original, content="")
    data = serializers.statuses([boost], viewer=local_member)[0]
    assert data["content"] == ""
    assert data["reblog"]["id"] == str(original.pk)
    assert data["reblog"]["account"]["acct"] == "bob@remote.example"
    assert data["reblog"]["reblogged"] is True


def test_statuses_batch_has_no_n_plus_one(local_member, make_local_member):
    """Serialising 20 statuses costs the same number of queries as 2."""
    authors = [make_local_member(f"user{i}") for i in range(4)]
    posts = [_post(authors[i % 4], i) for i in range(20)]
    for p in posts:
        Media.objects.create(owner=p.author, post=p, remote_url="https://x.example/a.png", width=10, height=5)

    def count(items):
        fresh = list(Post.objects.filter(pk__in=[p.pk for p in items]).order_by("-pk"))
        with CaptureQueriesContext(connection) as ctx:
            serializers.statuses(fresh, viewer=local_member)
        return len(ctx.captured_queries)

    assert count(posts[:2]) == count(posts)


def test_poll_voted_and_own_votes(local_member, make_local_member):
    """A poll shows totals, and ``voted``/``own_votes`` for the viewer who voted."""
    bob = make_local_member("bob")
    post = _post(bob, 1, object_type="Question")
    poll = Poll.objects.create(post=post, multiple=True, expires_at=timezone.now() + timedelta(hours=1), voters_count=1)
    options = [PollOption.objects.create(poll=poll, position=i, title=t, votes_count=c) for i, (t, c) in
               enumerate([("yes", 1), ("no", 0), ("maybe", 1)])]  # fmt: skip
    PollVote.objects.create(poll=poll, option=options[0], voter=local_member)
    PollVote.objects.create(poll=poll, option=options[2], voter=local_member)
    data = serializers.status(post, viewer=local_member)["poll"]
    assert data["votes_count"] == 2
    assert data["expired"] is False
    assert data["options"] == [{"title": "yes", "votes_count": 1}, {"title": "no", "votes_count": 0},
                               {"title": "maybe", "votes_count": 1}]  # fmt: skip
    assert data["voted"] is True
    assert data["own_votes"] == [0, 2]
    assert serializers.status(post, viewer=bob)["poll"]["voted"] is True  # own poll


def test_media_attachment_shape(local_member):
    """A remote attachment keeps its URL as ``url`` and ``remote_url`` with its size in ``meta``."""
    m = Media.objects.create(owner=local_member, remote_url="https://x.example/a.png", width=400, height=200,
                             description="alt")  # fmt: skip
    data = serializers.media(m)
    assert data["type"] == "image"
    assert data["url"] == data["remote_url"] == "https://x.example/a.png"
    assert data["meta"]["original"]["aspect"] == 2.0
    assert data["description"] == "alt"


def test_notification_reply_is_mention(local_member, make_local_member):
    """Our ``reply`` notification type is sent as Mastodon's ``mention`` with the status."""
    bob = make_local_member("bob")
    post = _post(bob, 1)
    n = Notification.objects.create(recipient=local_member, type="reply", from_actor=bob, post=post)
    data = serializers.notification(n, viewer=local_member)
    assert data["type"] == "mention"
    assert data["account"]["username"] == "bob"
    assert data["status"]["id"] == str(post.pk)


def test_remote_account_acct_and_group(make_remote_actor):
    """Remote accounts have ``user@domain`` acct; Group actors have ``group: true``."""
    group, _ = make_remote_actor("club", domain="lemmy.example", type="Group")
    data = account_serializers.account(group)
    assert data["acct"] == "club@lemmy.example"
    assert data["group"] is True
    assert data["avatar"].endswith("missing-avatar.png")

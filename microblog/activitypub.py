"""Posts as ActivityStreams: ``post_to_ap`` / ``post_to_create`` / ``post_to_update`` /
``post_to_delete`` (pure), and ``ap_to_post`` (the one write helper: a remote object,
already verified by the caller, into a stored, sanitised post).

Activity ids are stable: ``<base>/activities/<uuid5 of the object id and the verb>`` (for an
``Update`` also the edit time), so a task that runs twice publishes the same activity once.
Tolerated peer quirks are listed in :mod:`microblog.remote_posts`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from federation.vocab import AS_CONTEXT, PUBLIC
from microblog.models import Post
from microblog.remote_posts import RemotePostError, ap_to_post
from microblog.text import tag_url

__all__ = [
    "POST_CONTEXT",
    "RemotePostError",
    "activity_id",
    "ap_to_post",
    "post_to_ap",
    "post_to_create",
    "post_to_delete",
    "post_to_update",
]

# Terms beyond AS2 used in posts, declared inline (no context document is fetched by peers
# that do JSON-LD processing; the names are Mastodon's).
POST_CONTEXT: list[Any] = [
    AS_CONTEXT,
    {
        "ostatus": "http://ostatus.org#",
        "conversation": "ostatus:conversation",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "votersCount": "toot:votersCount",
        "blurhash": "toot:blurhash",
        "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
    },
]


def iso(dt: datetime) -> str:
    """An AS2 timestamp (UTC, seconds, ``Z``)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def activity_id(post: Post, verb: str, *, salt: str = "") -> str:
    """The stable id of the ``verb`` activity about ``post`` (same inputs → same id)."""
    key = uuid.uuid5(uuid.NAMESPACE_URL, f"{post.ap_id}#{verb}#{salt}")
    return f"{settings.NODE_BASE_URL}/activities/{key}"


def _tags(post: Post) -> list[dict[str, Any]]:
    tags: list[dict[str, Any]] = [
        {"type": "Mention", "href": m.actor.ap_id, "name": f"@{m.actor.username}@{m.actor.domain}"}
        for m in post.mentions.select_related("actor").order_by("pk")
    ]
    tags += [{"type": "Hashtag", "href": tag_url(h.name), "name": f"#{h.name}"} for h in post.hashtags.order_by("name")]
    return tags


def _attachments(post: Post) -> list[dict[str, Any]]:
    from microblog import media as media_module

    convert = getattr(media_module, "media_to_ap", None)
    if convert is None:
        return []
    return [convert(m) for m in post.media.order_by("position", "pk")]


def _poll_fields(post: Post) -> dict[str, Any]:
    from microblog import polls

    poll = getattr(post, "poll", None) if hasattr(post, "poll") else None
    convert = getattr(polls, "poll_to_ap_fields", None)
    if poll is None or convert is None:
        return {}
    return dict(convert(poll))


def post_to_ap(post: Post, *, context: bool = True) -> dict[str, Any]:
    """The AS2 object of a post (``Note``, or ``Question`` with its poll fields): addressing,
    mentions and hashtags in ``tag``, attachments, ``contentMap``, ``inReplyTo``,
    ``summary``/``sensitive``, ``url``, ``published``/``updated``, ``audience`` when set. A
    deleted post is a ``Tombstone``. ``context=False`` leaves out ``@context`` (embedding)."""
    doc: dict[str, Any] = {"@context": POST_CONTEXT} if context else {}
    if post.deleted_at is not None:
        doc.update({"id": post.ap_id, "type": "Tombstone", "deleted": iso(post.deleted_at)})
        return doc
    parent = post.in_reply_to.ap_id if post.in_reply_to_id and post.in_reply_to else post.in_reply_to_ap_id
    doc.update(
        {
            "id": post.ap_id,
            "type": post.object_type or "Note",
            "attributedTo": post.author.ap_id,
            "content": post.content,
            "summary": post.summary or None,
            "sensitive": post.sensitive,
            "inReplyTo": parent or None,
            "published": iso(post.published_at),
            "url": post.url or post.ap_id,
            "to": list(post.to),
            "cc": list(post.cc),
            "tag": _tags(post),
            "attachment": _attachments(post),
        }
    )
    if post.conversation:
        doc["conversation"] = doc["context"] = post.conversation
    if post.language and post.content:
        doc["contentMap"] = {post.language: post.content}
    if post.name:
        doc["name"] = post.name
    if post.edited_at is not None:
        doc["updated"] = iso(post.edited_at)
    if post.audience_id and post.audience is not None:
        doc["audience"] = post.audience.ap_id
    if doc["type"] == "Question":
        doc.update(_poll_fields(post))
    return doc


def _activity(post: Post, verb: str, obj: Any, *, ident: str, published: datetime) -> dict[str, Any]:
    return {
        "@context": POST_CONTEXT,
        "id": ident,
        "type": verb,
        "actor": post.author.ap_id,
        "published": iso(published),
        "to": list(post.to),
        "cc": list(post.cc),
        "object": obj,
    }


def post_to_create(post: Post) -> dict[str, Any]:
    """The ``Create`` of a local post (stable id), addressed like the post."""
    return _activity(
        post, "Create", post_to_ap(post, context=False), ident=activity_id(post, "create"), published=post.published_at
    )


def post_to_update(post: Post) -> dict[str, Any]:
    """The ``Update`` of an edited post; its id is stable per edit (``edited_at``)."""
    when = post.edited_at or post.published_at
    return _activity(
        post,
        "Update",
        post_to_ap(post, context=False),
        ident=activity_id(post, "update", salt=iso(when)),
        published=when,
    )


def post_to_delete(post: Post) -> dict[str, Any]:
    """The ``Delete{Tombstone}`` of a post, sent to everyone who could have received it."""
    when = post.deleted_at or post.edited_at or post.published_at
    activity = _activity(
        post, "Delete", {"id": post.ap_id, "type": "Tombstone"}, ident=activity_id(post, "delete"), published=when
    )
    if not activity["to"] and not activity["cc"]:
        activity["to"] = [PUBLIC]
    return activity

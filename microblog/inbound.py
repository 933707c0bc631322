"""Inbound post activities: ``Create`` / ``Update`` / ``Delete`` of ``Note``, ``Page``,
``Article`` and ``Question`` (and ``Delete`` of a ``Tombstone`` or a bare id).

Trust: the sending actor is authenticated by federation. An embedded object is used as is
only when its id is on the actor's host; otherwise it is fetched from its origin (signed as
the instance actor). The object's ``attributedTo`` must be the sender, and only the author of
a stored post may update or delete it; anything else is rejected and stores nothing.

Idempotent: a replayed ``Create`` changes nothing; a ``Create`` after a ``Delete`` never
resurrects the post (its tombstone row stays; a ``Delete`` of an id we do not have yet is
remembered for a week so a late ``Create`` is dropped too).

What is stored (everything else is acknowledged and dropped): a post

1. from an actor some local member follows (accepted follow), or
2. mentioning or addressing (``to``/``cc``) a local member or group, or
3. replying to a post we store (a local one, or one in a thread we have), or
4. delivered to a local member's personal inbox (the funfedi interop cases).

A reply whose parent we do not have triggers one fetch of the parent (its own parent is not
fetched: no recursion storm), when ``MICROBLOG_FETCH_PARENTS`` is on.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from federation.fetch import FetchError, fetch_document
from federation.inbound import Reject, same_origin
from federation.models import Actor, Follow, FollowState, InboxItem
from federation.registry import register_handler
from federation.resolve import ResolveError, get_or_fetch_actor, instance_signer
from federation.vocab import id_of, ids_of, type_of
from microblog import (
    counters,  # noqa: F401 - registers NodeInfo counters
    effects,
    hooks,
    polls,
    tasks,
)
from microblog.activitypub import RemotePostError, ap_to_post
from microblog.models import Post
from microblog.services import tombstone

log = logging.getLogger(__name__)

POST_TYPES = ("Note", "Page", "Article", "Question")
DELETED_MEMORY = 7 * 24 * 3600  # seconds a Delete of an unknown id is remembered


def _deleted_key(ap_id: str) -> str:
    return "microblog:deleted:" + hashlib.sha256(ap_id.encode()).hexdigest()


def _fetch(ident: str) -> dict[str, Any]:
    try:
        return fetch_document(ident, signer=instance_signer())
    except FetchError as exc:
        if exc.status in (404, 410) or not exc.retryable:
            raise Reject(f"object {ident[:200]} could not be fetched from its origin: {exc}") from exc
        raise  # network trouble: the item is retried


def object_from(activity: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """The activity's object as a document we may trust: embedded and on the actor's host, or
    fetched from its origin. Raises ``Reject`` when there is none."""
    obj = activity.get("object")
    ident = id_of(obj)
    if not ident:
        raise Reject("activity without an object id")
    if isinstance(obj, dict) and same_origin(ident, actor):
        return obj
    if ident.startswith(f"{settings.NODE_BASE_URL}/"):
        raise Reject("a remote actor cannot speak for this node's objects")
    return _fetch(ident)


def _check_author(obj: dict[str, Any], actor: Actor) -> None:
    if actor.ap_id not in ids_of(obj.get("attributedTo")):
        raise Reject("the object's attributedTo is not the sending actor")


def _is_wanted(obj: dict[str, Any], activity: dict[str, Any], actor: Actor) -> bool:
    """The storage rule of the module docstring."""
    if Follow.objects.filter(target=actor, follower__local=True, state=FollowState.ACCEPTED).exists():
        return True
    targets = set(
        ids_of(obj.get("to")) + ids_of(obj.get("cc")) + ids_of(activity.get("to")) + ids_of(activity.get("cc"))
    )
    refs = {t.get("href") for t in _tags(obj) if type_of(t) == "Mention"} - {None}
    if (
        Actor.objects.filter(local=True, ap_id__in=targets | refs).exists()
        or Actor.objects.filter(local=True, url__in=refs).exists()
    ):
        return True
    parent = id_of(obj.get("inReplyTo"))
    if parent and Post.objects.filter(ap_id=parent, deleted_at__isnull=True).exists():
        return True
    ident = activity.get("id")
    return bool(ident) and InboxItem.objects.filter(activity_id=ident, recipient__local=True).exists()


def _tags(obj: dict[str, Any]) -> list[dict[str, Any]]:
    tags = obj.get("tag")
    items = tags if isinstance(tags, list) else [tags]
    return [t for t in items if isinstance(t, dict)]


def _maybe_fetch_parent(obj: dict[str, Any]) -> None:
    """Store the unknown parent of a reply with one fetch (and one actor fetch); failures are ignored."""
    parent_id = id_of(obj.get("inReplyTo"))
    if not parent_id or not getattr(settings, "MICROBLOG_FETCH_PARENTS", True):
        return
    if Post.objects.filter(ap_id=parent_id).exists() or cache.get(_deleted_key(parent_id)):
        return
    try:
        doc = fetch_document(parent_id, signer=instance_signer())
        if type_of(doc) not in POST_TYPES:
            return
        author_id = id_of(doc.get("attributedTo")) or ""
        author = get_or_fetch_actor(author_id)
        if not same_origin(parent_id, author):
            return
        with transaction.atomic():
            ap_to_post(doc, actor=author)
    except (FetchError, ResolveError, RemotePostError, ValueError) as exc:
        log.info("parent %s not fetched: %s", parent_id[:200], exc)


def _surface(post: Post) -> None:
    """Queue the post's notifications at commit, when there can be any."""
    if effects.may_notify(post):
        transaction.on_commit(lambda: tasks.surface_post.delay(post.pk))


def _store(obj: dict[str, Any], actor: Actor) -> Post:
    try:
        return ap_to_post(obj, actor=actor)
    except RemotePostError as exc:
        raise Reject(str(exc)) from exc


@register_handler("Create", None)
@register_handler("Create", "Note")
@register_handler("Create", "Page")
@register_handler("Create", "Article")
@register_handler("Create", "Question")
def handle_create_note(activity: dict[str, Any], actor: Actor) -> None:
    """Store a remote post (rules in the module docstring) and notify local members."""
    handle_vote = getattr(polls, "maybe_handle_vote", None)
    if handle_vote is not None and handle_vote(activity, actor):
        return  # a poll vote (Create{Note{name, inReplyTo}}), counted by microblog.polls
    if type_of(activity.get("object")) not in (*POST_TYPES, None):
        return  # Create of something we do not keep as a post (Event, ChatMessage, ...)
    obj = object_from(activity, actor)
    if type_of(obj) not in POST_TYPES:
        return
    _check_author(obj, actor)
    ident = str(obj["id"])
    if Post.objects.filter(ap_id=ident).exists() or cache.get(_deleted_key(ident)):
        return  # replay, or a Create after its Delete: never resurrected
    if not _is_wanted(obj, activity, actor):
        return
    _maybe_fetch_parent(obj)
    post = _store(obj, actor)
    hooks.post_event("created", post, activity)
    _surface(post)


@register_handler("Update", "Note")
@register_handler("Update", "Page")
@register_handler("Update", "Article")
@register_handler("Update", "Question")
def handle_update_note(activity: dict[str, Any], actor: Actor) -> None:
    """Apply an edit by the post's author (edit history kept); unknown posts are stored when
    the storage rule wants them; a deleted post stays deleted."""
    obj = object_from(activity, actor)
    if type_of(obj) not in POST_TYPES:
        return
    _check_author(obj, actor)
    existing = Post.objects.filter(ap_id=str(obj["id"])).first()
    if existing is None:
        if cache.get(_deleted_key(str(obj["id"]))) or not _is_wanted(obj, activity, actor):
            return
        post = _store(obj, actor)
        hooks.post_event("created", post, activity)
        _surface(post)
        return
    if existing.author_id != actor.pk or existing.local:
        raise Reject("only the author may update a post")
    if existing.deleted_at is not None:
        return
    post = _store(obj, actor)
    hooks.post_event("updated", post, activity)
    if post.edited_at != existing.edited_at:  # text changed (not only poll totals)
        transaction.on_commit(lambda: tasks.surface_edit.delay(post.pk))


@register_handler("Delete", None)
@register_handler("Delete", "Tombstone")
@register_handler("Delete", "Note")
@register_handler("Delete", "Page")
@register_handler("Delete", "Article")
@register_handler("Delete", "Question")
def handle_delete_note(activity: dict[str, Any], actor: Actor) -> None:
    """Tombstone the post named by the ``Delete`` when the sender is its author. The object is
    only an id here (an embedded object is never trusted for more than its id)."""
    ident = id_of(activity.get("object"))
    if not ident:
        raise Reject("Delete without an object id")
    post = Post.objects.filter(ap_id=ident).first()
    if post is None:
        if ident != actor.ap_id and same_origin(ident, actor):
            cache.set(_deleted_key(ident), 1, DELETED_MEMORY)
        return
    if post.author_id != actor.pk or post.local:
        raise Reject("only the author may delete a post")
    if post.deleted_at is None:
        locked = Post.objects.select_for_update().get(pk=post.pk)
        if locked.deleted_at is None:
            tombstone(locked)
            hooks.post_event("deleted", locked, activity)

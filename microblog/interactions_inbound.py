"""Inbound handlers for interactions from other servers: ``Like`` (and Misskey/Pleroma
reactions), ``Announce``, ``Block`` and their ``Undo``.

Handlers get an authenticated actor and run inside the worker's transaction; ``Reject`` refuses
an activity and stores nothing. Only ids are trusted from another host: an ``Announce`` of an
unknown post fetches it from its own origin and ignores any embedded copy.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from federation.fetch import FetchError, fetch_document
from federation.follows import unfollow
from federation.hosts import host_of
from federation.inbound import Reject, same_origin
from federation.models import Actor, ActorBlock, Follow
from federation.registry import register_handler
from federation.resolve import ResolveError, get_or_fetch_actor, instance_signer
from federation.vocab import PUBLIC_FORMS, id_of, ids_of, type_of
from microblog import hooks
from microblog.interactions import PUBLIC_VISIBILITIES, bump_counter, notify_member
from microblog.models import Favourite, Post, Visibility

# Objects of an Announce that are activities (Lemmy/group relays: Announce{Create{Page}});
# they are not boosts of a post, the groups app handles them.
ACTIVITY_TYPES = frozenset({"Create", "Update", "Delete", "Like", "Dislike", "Undo", "Add", "Remove", "Follow"})


def _visible_to(actor: Actor, post: Post) -> bool:
    from microblog.services import can_see  # same layer; imported late to avoid a cycle

    return can_see(actor, post)


# ---------------------------------------------------------------- likes


@register_handler("Like")
@register_handler("EmojiReact")
def handle_like(activity: dict[str, Any], actor: Actor) -> None:
    """A remote like of a local post. Misskey sends reactions as ``Like`` with
    ``_misskey_reaction`` and Pleroma as ``EmojiReact``: both count as a like (favourite).
    Replays change nothing; likes of posts we do not host are ignored."""
    found = Post.objects.filter(ap_id=id_of(activity.get("object")) or "").select_related("author").first()
    if found is None or found.deleted_at is not None:
        return
    if not found.local:  # a like sent to a group of ours (FEP-1b12): the group may announce it
        hooks.post_event("liked", found.reblog_of or found, activity)
        return
    post = found.reblog_of or found
    if not _visible_to(actor, post):
        raise Reject("post not visible to this actor")
    ap_id = str(activity.get("id") or "")[:500]
    try:
        with transaction.atomic():
            Favourite.objects.create(actor=actor, post=post, ap_id=ap_id)
    except IntegrityError:
        return  # already liked (a replay, or a Like and an EmojiReact)
    bump_counter(post.pk, "favourites_count", 1)
    notify_member(post.author, "favourite", actor, post)
    hooks.post_event("liked", post, activity)


def _undo_like(fav: Favourite | None, actor: Actor) -> None:
    if fav is None:
        return  # nothing to undo: idempotent
    if fav.actor_id != actor.pk:
        raise Reject("only the liker may undo a like")
    fav.delete()
    bump_counter(fav.post_id, "favourites_count", -1)


@register_handler("Undo", "Like")
@register_handler("Undo", "EmojiReact")
def handle_undo_like(activity: dict[str, Any], actor: Actor) -> None:
    """A remote actor withdraws its like (found by the Like's id, else by actor and post)."""
    obj = activity.get("object")
    like_id = id_of(obj)
    fav = Favourite.objects.filter(ap_id=like_id).first() if like_id else None
    if fav is None and isinstance(obj, dict):
        if id_of(obj.get("actor")) not in (None, actor.ap_id):
            raise Reject("only the liker may undo a like")
        fav = Favourite.objects.filter(actor=actor, post__ap_id=id_of(obj.get("object")) or "").first()
    post = fav.post if fav is not None else None
    if post is None and isinstance(obj, dict) and id_of(obj.get("actor")) == actor.ap_id:
        post = Post.objects.filter(ap_id=id_of(obj.get("object")) or "", local=False).first()
    _undo_like(fav, actor)
    if post is not None:
        hooks.post_event("unliked", post, activity)


# ---------------------------------------------------------------- boosts


def _fetch_post(object_id: str) -> Post | None:
    """Fetch a post from its own origin (signed as the instance actor) and store it via
    ``activitypub.ap_to_post``. The author must be on the object's host."""
    from microblog.activitypub import ap_to_post  # same layer; imported late to avoid a cycle

    try:
        doc = fetch_document(object_id, signer=instance_signer())
    except FetchError as exc:
        if exc.retryable:
            raise  # the worker retries later
        raise Reject(f"announced object unavailable: {exc.reason}") from exc
    authors = ids_of(doc.get("attributedTo"))
    author_id = authors[0] if authors else None
    try:
        if not author_id or host_of(author_id) != host_of(str(doc["id"])):
            raise Reject("announced object is attributed to another host")
        author = get_or_fetch_actor(author_id)
    except (ValueError, ResolveError) as exc:
        raise Reject(f"announced object's author unavailable: {exc}") from exc
    try:
        return ap_to_post(doc, actor=author)
    except ValueError as exc:  # activitypub.RemotePostError: not storable as a post
        raise Reject(f"announced object refused: {exc}") from exc


def _boost_visibility(activity: dict[str, Any]) -> str:
    to, cc = ids_of(activity.get("to")), ids_of(activity.get("cc"))
    if any(t in PUBLIC_FORMS for t in to):
        return Visibility.PUBLIC
    if any(c in PUBLIC_FORMS for c in cc):
        return Visibility.UNLISTED
    return Visibility.PRIVATE


@register_handler("Announce")
def handle_announce(activity: dict[str, Any], actor: Actor) -> None:
    """A remote boost: store a boost row (one per actor and post) and notify a local author.
    An unknown object is fetched from its origin; only public/unlisted posts can be boosted.
    Relay actors (``Application``/``Service``, as Pleroma's and Mastodon's relays) only bring
    the post in: no boost row."""
    obj = activity.get("object")
    if type_of(obj) in ACTIVITY_TYPES:
        return
    object_id = id_of(obj)
    activity_id = str(activity.get("id") or "")
    if not object_id or not same_origin(activity_id, actor):
        raise Reject("an Announce must have an object and an id on the actor's host")
    if Post.objects.filter(ap_id=activity_id).exists():
        return  # replay
    found = Post.objects.filter(ap_id=object_id).select_related("author").first()
    if found is None:
        found = _fetch_post(object_id)  # an embedded copy is never trusted
        if found is None:
            return
    if found.deleted_at is not None:
        return
    original = found.reblog_of or found
    if original.visibility not in PUBLIC_VISIBILITIES:
        raise Reject("only public and unlisted posts can be boosted")
    if actor.type in ("Application", "Service"):
        return
    if original.author.local and not _visible_to(actor, original):
        raise Reject("the author blocks this actor")
    published = parse_datetime(str(activity.get("published") or "")) or timezone.now()
    if timezone.is_naive(published):
        published = published.replace(tzinfo=UTC)
    try:
        with transaction.atomic():
            Post.objects.create(
                ap_id=activity_id[:500],
                local=False,
                author=actor,
                object_type="Announce",
                visibility=_boost_visibility(activity),
                reblog_of=original,
                to=ids_of(activity.get("to")),
                cc=ids_of(activity.get("cc")),
                published_at=published,
            )
    except IntegrityError:
        return  # this actor already boosted the post (under another activity id)
    bump_counter(original.pk, "reblogs_count", 1)
    if original.author.local:
        notify_member(original.author, "reblog", actor, original)


def _undo_boost(boost: Post | None, actor: Actor) -> None:
    if boost is None:
        return
    if boost.author_id != actor.pk:
        raise Reject("only the booster may undo a boost")
    original_id = boost.reblog_of_id
    boost.delete()
    if original_id:
        bump_counter(original_id, "reblogs_count", -1)


@register_handler("Undo", "Announce")
def handle_undo_announce(activity: dict[str, Any], actor: Actor) -> None:
    """A remote actor withdraws its boost."""
    boost_id = id_of(activity.get("object"))
    boost = Post.objects.filter(ap_id=boost_id, reblog_of__isnull=False).first() if boost_id else None
    _undo_boost(boost, actor)


@register_handler("Undo")
def handle_undo_other(activity: dict[str, Any], actor: Actor) -> None:
    """``Undo`` naming its object by bare id only (some servers): a like or a boost we know by
    that id; anything else is ignored."""
    object_id = id_of(activity.get("object"))
    if not object_id:
        return
    fav = Favourite.objects.filter(ap_id=object_id).first()
    if fav is not None:
        _undo_like(fav, actor)
        return
    _undo_boost(Post.objects.filter(ap_id=object_id, reblog_of__isnull=False).first(), actor)


# ---------------------------------------------------------------- blocks


def _local_target(activity: dict[str, Any]) -> Actor | None:
    obj = activity.get("object")
    target_id = id_of(obj.get("object")) if isinstance(obj, dict) and type_of(obj) == "Block" else id_of(obj)
    return Actor.objects.filter(ap_id=target_id, local=True).first() if target_id else None


@register_handler("Block")
def handle_block(activity: dict[str, Any], actor: Actor) -> None:
    """A remote actor blocks a local one: recorded, and follows between them end (the
    remote's follow is dropped; ours is withdrawn with ``Undo{Follow}``, as Mastodon does)."""
    target = _local_target(activity)
    if target is None:
        return
    ActorBlock.objects.get_or_create(owner=actor, target=target)
    Follow.objects.filter(follower=actor, target=target).delete()
    if Follow.objects.filter(follower=target, target=actor).exists():
        unfollow(target, actor)


@register_handler("Undo", "Block")
def handle_undo_block(activity: dict[str, Any], actor: Actor) -> None:
    """A remote actor lifts its block of a local one."""
    obj = activity.get("object")
    if isinstance(obj, dict) and id_of(obj.get("actor")) not in (None, actor.ap_id):
        raise Reject("only the blocker may undo a block")
    target = _local_target(activity)
    if target is not None:
        ActorBlock.objects.filter(owner=actor, target=target).delete()

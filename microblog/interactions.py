"""Interactions of members with posts and accounts: likes, boosts, bookmarks, pins, mutes and
blocks. Services here are the only write path for them; each one writes in a transaction and
hands its activity to ``federation.outbox.publish`` in the same transaction (delivery starts
after commit, so a rolled-back action sends nothing). Conversions and the inbound handlers for
the remote side live in ``microblog.interactions_ap``.

Counters (``favourites_count``, ``reblogs_count``) move only when a row is really created or
deleted, so replays and double clicks never skew them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from federation import registry
from federation.follows import new_activity_id, reject_follow, unfollow
from federation.models import Actor, ActorBlock, Follow, OutboxActivity
from federation.outbox import inboxes_for_followers, publish
from federation.vocab import PUBLIC
from microblog import hooks
from microblog.interactions_ap import (
    announce_to_ap,
    block_to_ap,
    featured_to_ap,
    like_to_ap,
    undo_to_ap,
)
from microblog.models import Bookmark, Favourite, Mute, Pin, Post, Visibility

PUBLIC_VISIBILITIES: tuple[str, ...] = (Visibility.PUBLIC.value, Visibility.UNLISTED.value)


class InteractionError(ValueError):
    """An interaction that is not allowed (boost of a private post, too many pins, ...)."""


def max_pins() -> int:
    return int(getattr(settings, "MICROBLOG_MAX_PINS", 5))


def _original(post: Post) -> Post:
    """Interacting with a boost means interacting with the boosted post (Mastodon does so)."""
    return post.reblog_of or post


def _check_visible(actor: Actor, post: Post) -> None:
    from microblog.services import can_see  # same layer; imported late to avoid a cycle

    if not can_see(actor, post):
        raise InteractionError("this post cannot be found")


def notify_member(recipient: Actor, kind: str, sender: Actor, post: Post | None = None) -> None:
    from microblog.notifications import notify  # same layer; imported late to avoid a cycle

    notify(recipient, kind, sender, post)


def bump_counter(post_id: int, field: str, delta: int) -> None:
    """Move a post counter atomically; never below zero."""
    rows = Post.objects.filter(pk=post_id)
    if delta < 0:
        rows = rows.filter(**{f"{field}__gte": -delta})
    rows.update(**{field: F(field) + delta})


# ---------------------------------------------------------------- likes


def favourite(actor: Actor, post: Post) -> Favourite:
    """``actor`` likes ``post`` (the original when given a boost). Idempotent: liking again
    returns the existing row and changes nothing. Sends ``Like`` to a remote author's inbox
    (Mastodon sends it to the author only); a local author is notified (``favourite``)."""
    post = _original(post)
    _check_visible(actor, post)
    with transaction.atomic():
        existing = Favourite.objects.filter(actor=actor, post=post).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                fav = Favourite.objects.create(actor=actor, post=post, ap_id=new_activity_id())
        except IntegrityError:  # a concurrent like
            return Favourite.objects.get(actor=actor, post=post)
        bump_counter(post.pk, "favourites_count", 1)
        if post.author.local:
            notify_member(post.author, "favourite", actor, post)
        inboxes = _like_inboxes(post) if actor.local else []
        if inboxes:
            publish(like_to_ap(fav), actor=actor, inboxes=inboxes, object_ap_id=post.ap_id)
        hooks.post_event("liked", post, like_to_ap(fav))  # groups announce likes of their posts
    return fav


def _like_inboxes(post: Post) -> list[str]:
    """Where a local like goes: a remote author, and a remote group the post is in (FEP-1b12:
    the group announces it to its members, as Lemmy does)."""
    inboxes = [] if post.author.local else [post.author.inbox_url]
    group = post.audience
    if group is not None and not group.local and group.type == "Group" and group.pk != post.author_id:
        inboxes.append(group.delivery_inbox)
    return inboxes


def unfavourite(actor: Actor, post: Post) -> None:
    """Withdraw ``actor``'s like of ``post``; sends ``Undo{Like}`` to a remote author.
    Harmless when there is no like."""
    post = _original(post)
    with transaction.atomic():
        fav = Favourite.objects.select_for_update().filter(actor=actor, post=post).first()
        if fav is None:
            return
        undo = undo_to_ap(actor, like_to_ap(fav))
        inboxes = _like_inboxes(post) if actor.local else []
        if inboxes:
            publish(undo, actor=actor, inboxes=inboxes, object_ap_id=post.ap_id)
        fav.delete()
        bump_counter(post.pk, "favourites_count", -1)
        hooks.post_event("unliked", post, undo)


# ---------------------------------------------------------------- boosts


def _boost_inboxes(actor: Actor, original: Post) -> list[str]:
    inboxes = inboxes_for_followers(actor)
    if not original.author.local and original.author.inbox_url:
        inboxes.append(original.author.inbox_url)
    return inboxes


def reblog(actor: Actor, post: Post) -> Post:
    """``actor`` boosts ``post`` (the original when given a boost): returns the boost row.
    Only public and unlisted posts can be boosted (:class:`InteractionError` otherwise).
    Idempotent: one boost per author and post. ``Announce`` (to Public, cc the original author
    and the booster's followers) goes to the followers and the original author."""
    post = _original(post)
    _check_visible(actor, post)
    if post.visibility not in PUBLIC_VISIBILITIES:
        raise InteractionError("only public and unlisted posts can be boosted")
    if post.deleted_at is not None:
        raise InteractionError("this post cannot be found")
    with transaction.atomic():
        existing = Post.objects.filter(author=actor, reblog_of=post, deleted_at__isnull=True).first()
        if existing is not None:
            return existing
        ap_id = new_activity_id()
        to, cc = [PUBLIC], [post.author.ap_id, actor.followers_url]
        try:
            with transaction.atomic():
                boost = Post.objects.create(
                    ap_id=ap_id,
                    local=True,
                    author=actor,
                    object_type="Announce",
                    visibility=Visibility.PUBLIC,
                    reblog_of=post,
                    to=to,
                    cc=[c for c in cc if c],
                )
        except IntegrityError:
            return Post.objects.get(author=actor, reblog_of=post, deleted_at__isnull=True)
        bump_counter(post.pk, "reblogs_count", 1)
        if post.author.local:
            notify_member(post.author, "reblog", actor, post)
        publish(
            announce_to_ap(boost),
            actor=actor,
            inboxes=_boost_inboxes(actor, post),
            object_ap_id=post.ap_id,
            public=True,
        )
    return boost


def unreblog(actor: Actor, post: Post) -> None:
    """Remove ``actor``'s boost of ``post`` (or the boost ``post`` itself); sends
    ``Undo{Announce}`` to the same audience. Harmless when there is no boost."""
    original = _original(post)
    with transaction.atomic():
        boost = Post.objects.select_for_update().filter(author=actor, reblog_of=original).first()
        if boost is None:
            return
        if actor.local:
            publish(
                undo_to_ap(actor, announce_to_ap(boost)),
                actor=actor,
                inboxes=_boost_inboxes(actor, original),
                object_ap_id=original.ap_id,
                public=True,
            )
        boost.delete()
        bump_counter(original.pk, "reblogs_count", -1)


# ---------------------------------------------------------------- bookmarks (local only)


def bookmark(user: Any, post: Post) -> Bookmark:
    """``user`` bookmarks ``post`` (the original when given a boost); never federated; idempotent."""
    post = _original(post)
    _check_visible(user.actor, post)
    row, _ = Bookmark.objects.get_or_create(user=user, post=post)
    return row


def unbookmark(user: Any, post: Post) -> None:
    """Remove a bookmark; harmless when absent."""
    Bookmark.objects.filter(user=user, post=_original(post)).delete()


# ---------------------------------------------------------------- pins (featured collection)


def _featured_activity(actor: Actor, kind: str, post: Post) -> None:
    publish(
        featured_to_ap(actor, kind, post),
        actor=actor,
        inboxes=inboxes_for_followers(actor),
        object_ap_id=post.ap_id,
        public=True,
    )


def pin(actor: Actor, post: Post) -> Pin:
    """Pin ``actor``'s own public or unlisted post to its profile (at most
    ``MICROBLOG_MAX_PINS``, default 5); sends ``Add`` to its followers. Idempotent."""
    if post.author_id != actor.pk or post.reblog_of_id or post.deleted_at is not None:
        raise InteractionError("you can only pin your own posts")
    if post.visibility not in PUBLIC_VISIBILITIES:
        raise InteractionError("only public and unlisted posts can be pinned")
    with transaction.atomic():
        Actor.objects.select_for_update().filter(pk=actor.pk).first()  # serialise the pin count
        existing = Pin.objects.filter(actor=actor, post=post).first()
        if existing is not None:
            return existing
        if Pin.objects.filter(actor=actor).count() >= max_pins():
            raise InteractionError(f"you can pin at most {max_pins()} posts")
        row = Pin.objects.create(actor=actor, post=post)
        if actor.local:
            _featured_activity(actor, "Add", post)
    return row


def unpin(actor: Actor, post: Post) -> None:
    """Unpin a post; sends ``Remove`` to the followers. Harmless when it was not pinned."""
    with transaction.atomic():
        deleted, _ = Pin.objects.filter(actor=actor, post=post).delete()
        if deleted and actor.local:
            _featured_activity(actor, "Remove", post)


def featured_items(actor: Actor) -> list[Any]:
    """The pinned posts of a local actor, newest pin first, as embedded AS2 objects
    (Mastodon embeds the notes in its ``featured`` collection)."""
    from microblog.activitypub import post_to_ap  # same layer; imported late to avoid a cycle

    pins = (
        Pin.objects.filter(actor=actor, post__deleted_at__isnull=True, post__visibility__in=PUBLIC_VISIBILITIES)
        .select_related("post", "post__author")
        .order_by("-created_at", "-pk")
    )
    items = []
    for row in pins:
        items.append(post_to_ap(row.post, context=False))
    return items


registry.register_collection("featured", featured_items)


# ---------------------------------------------------------------- mutes (local only)


def mute(owner: Actor, target: Actor, *, notifications: bool = True, duration: int | None = None) -> Mute:
    """``owner`` hides ``target``'s posts (and, with ``notifications``, its notifications) for
    ``duration`` seconds or until unmuted. Muting again updates the options."""
    if owner.pk == target.pk:
        raise InteractionError("you cannot mute yourself")
    if duration is not None and int(duration) < 0:
        raise InteractionError("duration must be positive")
    expires_at = timezone.now() + timedelta(seconds=int(duration)) if duration else None
    row, _ = Mute.objects.update_or_create(
        owner=owner, target=target, defaults={"notifications": bool(notifications), "expires_at": expires_at}
    )
    return row


def unmute(owner: Actor, target: Actor) -> None:
    """Stop muting; harmless when not muted."""
    Mute.objects.filter(owner=owner, target=target).delete()


# ---------------------------------------------------------------- blocks


def block(owner: Actor, target: Actor) -> ActorBlock:
    """Local ``owner`` blocks ``target``: follows both ways end (``Undo{Follow}`` /
    ``Reject{Follow}`` to a remote side) and a remote target gets ``Block`` (as Mastodon
    sends). Idempotent."""
    if not owner.local:
        raise InteractionError("only local accounts block through this node")
    if owner.pk == target.pk:
        raise InteractionError("you cannot block yourself")
    with transaction.atomic():
        row, created = ActorBlock.objects.get_or_create(owner=owner, target=target)
        if Follow.objects.filter(follower=owner, target=target).exists():
            unfollow(owner, target)
        theirs = Follow.objects.filter(follower=target, target=owner).select_related("follower", "target").first()
        if theirs is not None:
            reject_follow(theirs)
        if created and not target.local and target.inbox_url:
            publish(block_to_ap(owner, target), actor=owner, inboxes=[target.inbox_url], object_ap_id=target.ap_id)
    return row


def unblock(owner: Actor, target: Actor) -> None:
    """Lift a block; a remote target gets ``Undo{Block}``. Harmless when not blocked."""
    with transaction.atomic():
        deleted, _ = ActorBlock.objects.filter(owner=owner, target=target).delete()
        if not deleted or target.local or not owner.local or not target.inbox_url:
            return
        sent = (
            OutboxActivity.objects.filter(actor=owner, type="Block", object_ap_id=target.ap_id)
            .order_by("-pk")
            .values_list("body", flat=True)
            .first()
        )
        original = dict(sent) if sent else block_to_ap(owner, target)
        publish(undo_to_ap(owner, original), actor=owner, inboxes=[target.inbox_url], object_ap_id=target.ap_id)


from microblog import interactions_inbound  # noqa: E402, F401 - registers the inbound handlers

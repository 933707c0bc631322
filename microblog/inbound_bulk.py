"""Bulk storage of plain remote posts for inbox drains (bench B6: a hub catching up after an
outage stores thousands of posts from the members its members follow).

:func:`create_notes` is the batch variant of :func:`microblog.inbound.handle_create_note`
(``federation.registry.register_batch_handler``). It stores, in a handful of queries for the
whole batch, the posts for which the one-by-one handler would take its simplest path, with
the same result:

- a ``Create`` of an embedded ``Note``/``Page``/``Article`` on the sender's host, attributed
  to the sender, with an http(s) id;
- no ``inReplyTo`` (so no vote, no parent to fetch, no thread to join), no attachment, no
  ``Mention`` tag, no ``audience``, nothing in its ``to``/``cc`` on this node (so no local
  member is mentioned or addressed);
- from an actor a local member follows (the first storage rule).

A replay (a post we have) and a ``Create`` after its ``Delete`` are finished here as they are
there: nothing stored. So is such a post from an actor nobody here follows when no other
storage rule wants it either (the activity names nobody on this node and did not come to a
member's own inbox): dropped, as the one-by-one handler drops it (most of what a busy shared
inbox receives). Everything else (including a post some stored reply was waiting for)
is left to the one-by-one handler. The bulk path never notifies anyone: a post it stores
mentions no local member and replies to nothing, so ``surface_post`` would find nothing to do.
Group observers see the posts through ``microblog.hooks.posts_created``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

from federation.inbound import same_origin
from federation.models import Actor, Follow, FollowState, InboxItem
from federation.registry import register_batch_handler
from federation.vocab import as_list, ids_of, type_of
from microblog import hooks
from microblog.inbound import _deleted_key, handle_create_note
from microblog.models import Post
from microblog.remote_posts import _fields, _hashtags, _http
from microblog.text import add_hashtags_bulk

log = logging.getLogger(__name__)

BULK_TYPES = ("Note", "Page", "Article")
TAG_TYPES = ("Hashtag", "Emoji")


def _plain(activity: dict[str, Any], actor: Actor) -> str | None:
    """The object id when the one-by-one handler would take its simplest path (module
    docstring) for this activity, apart from the database checks; else None."""
    obj = activity.get("object")
    if not isinstance(obj, dict) or type_of(obj) not in BULK_TYPES:
        return None
    ident = obj.get("id")
    if not isinstance(ident, str) or not _http(ident) or not same_origin(ident, actor):
        return None
    if ids_of(obj.get("attributedTo")) != [actor.ap_id]:
        return None
    if obj.get("inReplyTo") or obj.get("attachment") or obj.get("audience") or activity.get("audience"):
        return None
    if any(not isinstance(t, dict) or type_of(t) not in TAG_TYPES for t in as_list(obj.get("tag"))):
        return None
    here = f"{settings.NODE_BASE_URL}/"
    if any(t.startswith(here) for t in ids_of(obj.get("to")) + ids_of(obj.get("cc"))):
        return None
    return ident


def create_notes(entries: list[tuple[dict[str, Any], Actor]]) -> list[bool]:
    """Store the plain posts among ``entries`` (see the module docstring); True for each entry
    finished here, False for each one the one-by-one handler must process."""
    done = [False] * len(entries)
    ids: dict[int, str] = {}
    for n, (activity, actor) in enumerate(entries):
        ident = _plain(activity, actor)
        if ident is not None:
            ids[n] = ident
    if not ids:
        return done
    wanted = set(ids.values())
    have = set(Post.objects.filter(ap_id__in=wanted).values_list("ap_id", flat=True))
    gone = cache.get_many([_deleted_key(i) for i in wanted])
    awaited = set(  # replies that arrived before these posts: adopted one by one (_link_thread)
        Post.objects.filter(in_reply_to_ap_id__in=wanted, in_reply_to__isnull=True, deleted_at__isnull=True)
        .exclude(in_reply_to_ap_id="")
        .values_list("in_reply_to_ap_id", flat=True)
    )
    authors = {entries[n][1].pk for n in ids}
    followed = set(
        Follow.objects.filter(target__in=authors, follower__local=True, state=FollowState.ACCEPTED).values_list(
            "target_id", flat=True
        )
    )
    personal = set(  # delivered to a member's own inbox: the fourth storage rule
        InboxItem.objects.filter(
            activity_id__in=[str(entries[n][0].get("id")) for n in ids], recipient__local=True
        ).values_list("activity_id", flat=True)
    )
    here = f"{settings.NODE_BASE_URL}/"
    rows: list[tuple[int, Post, list[str]]] = []
    seen: set[str] = set()
    for n, ident in ids.items():
        activity, actor = entries[n]
        if ident in have or _deleted_key(ident) in gone:
            done[n] = True  # a replay, or a Create after its Delete: never resurrected
            continue
        if actor.pk not in followed:
            addressed = ids_of(activity.get("to")) + ids_of(activity.get("cc"))
            if str(activity.get("id")) not in personal and not any(t.startswith(here) for t in addressed):
                done[n] = True  # wanted by no storage rule (module docstring): dropped, as one by one
            continue
        if ident in seen or ident in awaited:
            continue  # the same post twice in the batch, a reply that waited for it
        try:
            fields = _fields(activity["object"], actor)
        except (TypeError, ValueError, KeyError):
            continue  # the one-by-one handler records what is wrong with it
        seen.add(ident)
        post = Post(ap_id=ident, local=False, author=actor, audience=None, **fields)
        rows.append((n, post, _hashtags(activity["object"])))
    if not rows:
        return done
    Post.objects.bulk_create([post for _, post, _ in rows])
    add_hashtags_bulk([(post, tags) for _, post, tags in rows])
    hooks.posts_created([(post, entries[n][0]) for n, post, _ in rows])
    for n, _, _ in rows:
        done[n] = True
    log.debug("stored %d posts in bulk", len(rows))
    return done


register_batch_handler(handle_create_note, create_notes)

"""Mastodon API entities built from our rows (docs.joinmastodon.org/entities).

Ids are strings of primary keys; datetimes are ISO 8601 in UTC with milliseconds
(``2019-12-08T03:48:33.901Z``), as Mastodon sends them. The list forms (:func:`statuses`,
:func:`notifications`) load everything a page needs in a fixed number of queries, whatever the
page size (no N+1). Viewer flags (``favourited``, ``reblogged``, ``bookmarked``, ``pinned``,
``muted``, poll ``voted``) are only present when there is a viewer, as in Mastodon. Accounts,
relationships and the shared datetime and URL forms are in ``account_serializers.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects

from federation.models import Actor
from microblog.api.account_serializers import absolute, account, account_stats, acct, file_url, iso
from microblog.models import (
    Bookmark,
    Favourite,
    Hashtag,
    Media,
    Notification,
    Pin,
    Poll,
    PollVote,
    Post,
)

# Mastodon reports replies as mentions; our "reply" type exists only for filtering.
NOTIFICATION_TYPES = {"reply": "mention"}


# ---------------------------------------------------------------- media, polls, tags


def media(m: Media) -> dict[str, Any]:
    """The MediaAttachment entity."""
    url = file_url(m.file) or m.remote_url
    preview = file_url(m.thumbnail) or url
    meta: dict[str, Any] = {}
    if m.width and m.height:
        meta["original"] = {
            "width": m.width,
            "height": m.height,
            "size": f"{m.width}x{m.height}",
            "aspect": round(m.width / m.height, 6),
        }
    kind = m.kind if m.kind in ("image", "gifv", "video", "audio") else "unknown"
    return {
        "id": str(m.pk),
        "type": kind,
        "url": url,
        "preview_url": preview,
        "remote_url": m.remote_url or None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": m.description or None,
        "blurhash": m.blurhash or None,
    }


def poll(p: Poll, *, viewer: Actor | None, own_votes: list[int] | None = None) -> dict[str, Any]:
    """The Poll entity; ``voted``/``own_votes`` (option indexes) when there is a viewer."""
    options = list(p.options.all())
    data: dict[str, Any] = {
        "id": str(p.pk),
        "expires_at": iso(p.expires_at),
        "expired": p.expired,
        "multiple": p.multiple,
        "votes_count": sum(o.votes_count for o in options),
        "voters_count": p.voters_count,
        "options": [{"title": o.title, "votes_count": o.votes_count} for o in options],
        "emojis": [],
    }
    if viewer is not None:
        if own_votes is None:
            index = {o.pk: i for i, o in enumerate(options)}
            chosen = PollVote.objects.filter(poll=p, voter=viewer).values_list("option_id", flat=True)
            own_votes = sorted(index[c] for c in chosen if c in index)
        data["voted"] = bool(own_votes) or p.post.author_id == viewer.pk
        data["own_votes"] = own_votes
    return data


def tag(h: Hashtag | str) -> dict[str, Any]:
    """The Tag entity (``history`` empty: no trend statistics here)."""
    name = h if isinstance(h, str) else h.name
    return {"name": name, "url": absolute(f"/tags/{name}"), "history": [], "following": False}


def mention(actor: Actor) -> dict[str, Any]:
    """The Status::Mention entity."""
    return {"id": str(actor.pk), "username": actor.username, "url": actor.url or actor.ap_id, "acct": acct(actor)}


# ---------------------------------------------------------------- statuses


class _Context:
    """Everything a batch of statuses needs beyond the rows themselves, loaded once."""

    def __init__(self, posts: list[Post], viewer: Actor | None) -> None:
        self.viewer = viewer
        prefetch_related_objects(posts, "reblog_of")
        everything = posts + [p.reblog_of for p in posts if p.reblog_of is not None]
        prefetch_related_objects(
            everything,
            "author__user",
            "in_reply_to",
            Prefetch("media", queryset=Media.objects.order_by("position", "id")),
            "mentions__actor",
            "hashtags",
        )
        prefetch_related_objects(everything, "poll__options")
        ids = [p.pk for p in everything]
        authors = {p.author_id: p.author for p in everything}
        stats = account_stats(authors)
        self.accounts = {pk: account(a, stats=stats[pk]) for pk, a in authors.items()}
        self.favourited: set[int] = set()
        self.reblogged: set[int] = set()
        self.bookmarked: set[int] = set()
        self.pinned: set[int] = set()
        self.votes: dict[int, list[int]] = {}
        if viewer is not None:
            self.favourited = set(
                Favourite.objects.filter(actor=viewer, post_id__in=ids).values_list("post_id", flat=True)
            )
            self.reblogged = set(
                Post.objects.filter(author=viewer, reblog_of_id__in=ids, deleted_at__isnull=True).values_list(
                    "reblog_of_id", flat=True
                )
            )
            if viewer.user_id:
                self.bookmarked = set(
                    Bookmark.objects.filter(user_id=viewer.user_id, post_id__in=ids).values_list("post_id", flat=True)
                )
            self.pinned = set(Pin.objects.filter(actor=viewer, post_id__in=ids).values_list("post_id", flat=True))
            polls = {p.poll.pk: p.poll for p in everything if _poll_of(p) is not None}
            chosen: dict[int, set[int]] = {}
            for poll_id, option_id in PollVote.objects.filter(voter=viewer, poll_id__in=polls).values_list(
                "poll_id", "option_id"
            ):
                chosen.setdefault(poll_id, set()).add(option_id)
            for poll_id, p in polls.items():
                index = {o.pk: i for i, o in enumerate(p.options.all())}
                self.votes[poll_id] = sorted(index[c] for c in chosen.get(poll_id, ()) if c in index)


def _poll_of(post: Post) -> Poll | None:
    try:
        return post.poll
    except Poll.DoesNotExist:
        return None


def _status(post: Post, ctx: _Context, *, source: bool = False) -> dict[str, Any]:
    viewer = ctx.viewer
    reblog = post.reblog_of
    parent = post.in_reply_to
    p = _poll_of(post) if reblog is None else None
    data: dict[str, Any] = {
        "id": str(post.pk),
        "created_at": iso(post.published_at),
        "in_reply_to_id": str(post.in_reply_to_id) if post.in_reply_to_id else None,
        "in_reply_to_account_id": str(parent.author_id) if parent is not None else None,
        "sensitive": post.sensitive,
        "spoiler_text": post.summary,
        "visibility": post.visibility,
        "language": post.language or None,
        "uri": post.ap_id,
        "url": post.url or post.ap_id,
        "replies_count": post.replies_count,
        "reblogs_count": post.reblogs_count,
        "favourites_count": post.favourites_count,
        "edited_at": iso(post.edited_at),
        "content": "" if reblog is not None else post.content,
        "reblog": _status(reblog, ctx) if reblog is not None else None,
        "application": {"name": "Redcloud", "website": None} if post.local else None,
        "account": ctx.accounts[post.author_id],
        "media_attachments": [media(m) for m in post.media.all()],
        "mentions": [mention(m.actor) for m in post.mentions.all()],
        "tags": [tag(h) for h in post.hashtags.all()],
        "emojis": [],
        "card": None,
        "poll": poll(p, viewer=viewer, own_votes=ctx.votes.get(p.pk, [])) if p is not None else None,
        "filtered": [],
    }
    if viewer is not None:
        data["favourited"] = post.pk in ctx.favourited
        data["reblogged"] = post.pk in ctx.reblogged
        data["muted"] = False
        data["bookmarked"] = post.pk in ctx.bookmarked
        data["pinned"] = post.pk in ctx.pinned
    if source:
        data["text"] = post.source
    return data


def statuses(posts: Sequence[Post], *, viewer: Actor | None) -> list[dict[str, Any]]:
    """Status entities of a page of posts (boosts embed the boosted status), batched."""
    items = list(posts)
    ctx = _Context(items, viewer)
    return [_status(p, ctx) for p in items]


def status(post: Post, *, viewer: Actor | None, source: bool = False) -> dict[str, Any]:
    """The Status entity of one post; ``source=True`` adds ``text`` (delete and redraft)."""
    return _status(post, _Context([post], viewer), source=source)


def context(ancestors: Sequence[Post], descendants: Sequence[Post], *, viewer: Actor | None) -> dict[str, Any]:
    """The Context entity (``ancestors`` oldest first, ``descendants`` in thread order)."""
    ctx = _Context(list(ancestors) + list(descendants), viewer)
    return {
        "ancestors": [_status(p, ctx) for p in ancestors],
        "descendants": [_status(p, ctx) for p in descendants],
    }


# ---------------------------------------------------------------- notifications, relationships


def notifications(items: Sequence[Notification], *, viewer: Actor | None) -> list[dict[str, Any]]:
    """Notification entities of a page (accounts and statuses batched)."""
    rows = list(items)
    prefetch_related_objects(rows, "from_actor", "post")
    posts = [n.post for n in rows if n.post is not None]
    ctx = _Context(posts, viewer)
    senders = {n.from_actor_id: n.from_actor for n in rows}
    stats = account_stats(senders)
    prefetch_related_objects([a for a in senders.values() if a.local], "user")
    acc = {pk: account(a, stats=stats[pk]) for pk, a in senders.items()}
    out = []
    for n in rows:
        data: dict[str, Any] = {
            "id": str(n.pk),
            "type": NOTIFICATION_TYPES.get(n.type, n.type),
            "created_at": iso(n.created_at),
            "group_key": f"ungrouped-{n.pk}",
            "account": acc[n.from_actor_id],
        }
        if n.post is not None:
            data["status"] = _status(n.post, ctx)
        out.append(data)
    return out


def notification(n: Notification, *, viewer: Actor | None) -> dict[str, Any]:
    """The Notification entity of one row."""
    return notifications([n], viewer=viewer)[0]

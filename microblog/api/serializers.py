"""Mastodon API entities built from our rows (docs.joinmastodon.org/entities).

Ids are strings of primary keys; datetimes are ISO 8601 in UTC with milliseconds
(``2019-12-08T03:48:33.901Z``), as Mastodon sends them. The list forms (:func:`accounts`,
:func:`statuses`, :func:`notifications`, :func:`relationships`) load everything a page needs
in a fixed number of queries, whatever the page size (no N+1). Viewer flags (``favourited``,
``reblogged``, ``bookmarked``, ``pinned``, ``muted``, poll ``voted``) are only present when
there is a viewer, as in Mastodon.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Prefetch, Q, prefetch_related_objects
from django.templatetags.static import static
from django.utils import timezone

from federation.models import Actor, ActorBlock, ActorType, Follow, FollowState
from microblog.models import (
    Bookmark,
    Favourite,
    Hashtag,
    Media,
    Mute,
    Notification,
    Pin,
    Poll,
    PollVote,
    Post,
)

DEFAULT_AVATAR = "microblog/api/missing-avatar.png"
DEFAULT_HEADER = "microblog/api/missing-header.png"
# Mastodon reports replies as mentions; our "reply" type exists only for filtering.
NOTIFICATION_TYPES = {"reply": "mention"}


def iso(dt: datetime | None) -> str | None:
    """Mastodon's datetime format, or None."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def absolute(url: str) -> str:
    """An absolute URL on this node for a path (absolute URLs pass through)."""
    if not url or url.startswith(("http://", "https://")):
        return url
    return str(settings.NODE_BASE_URL).rstrip("/") + "/" + url.lstrip("/")


def _file_url(field: Any) -> str:
    try:
        return absolute(field.url) if field else ""
    except ValueError:
        return ""


# ---------------------------------------------------------------- accounts


def _image_url(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url") if not isinstance(value.get("url"), list) else _image_url(value["url"])
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else ""


def avatar_url(actor: Actor) -> str:
    """The avatar of an actor: its icon, a local member's uploaded avatar, or the default image."""
    if actor.icon_url:
        return actor.icon_url
    user = actor.user if actor.local and actor.user_id else None
    return (_file_url(user.avatar) if user is not None else "") or absolute(static(DEFAULT_AVATAR))


def _header_url(actor: Actor) -> str:
    return _image_url((actor.data or {}).get("image")) or absolute(static(DEFAULT_HEADER))


def _fields(actor: Actor) -> list[dict[str, Any]]:
    out = []
    for item in (actor.data or {}).get("attachment") or []:
        if isinstance(item, dict) and item.get("type") == "PropertyValue":
            out.append({"name": str(item.get("name", "")), "value": str(item.get("value", "")), "verified_at": None})
    return out


def acct(actor: Actor) -> str:
    """``user`` for local accounts, ``user@domain`` for remote ones."""
    return actor.username if actor.local else f"{actor.username}@{actor.domain}"


def account_stats(actor_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Followers, following and status counts and last status date of several actors, in
    three queries."""
    ids = list(set(actor_ids))
    stats = {pk: {"followers": 0, "following": 0, "statuses": 0, "last": None} for pk in ids}
    if not ids:
        return stats
    accepted = Follow.objects.filter(state=FollowState.ACCEPTED)
    for pk, n in accepted.filter(target_id__in=ids).values_list("target_id").annotate(n=Count("id")):
        stats[pk]["followers"] = n
    for pk, n in accepted.filter(follower_id__in=ids).values_list("follower_id").annotate(n=Count("id")):
        stats[pk]["following"] = n
    rows = (
        Post.objects.filter(author_id__in=ids, deleted_at__isnull=True)
        .values_list("author_id")
        .annotate(n=Count("id"), last=Max("published_at"))
    )
    for pk, n, last in rows:
        stats[pk]["statuses"], stats[pk]["last"] = n, last
    return stats


def account(actor: Actor, *, viewer: Actor | None = None, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Account entity of an actor (local or remote)."""
    if stats is None:
        stats = account_stats([actor.pk])[actor.pk]
    user = actor.user if actor.local and actor.user_id else None
    avatar = avatar_url(actor)
    header = _header_url(actor)
    display_name = actor.name or (getattr(user, "display_name", "") if user else "")
    last = stats["last"]
    return {
        "id": str(actor.pk),
        "username": actor.username,
        "acct": acct(actor),
        "display_name": display_name,
        "locked": actor.manually_approves_followers,
        "bot": actor.type in (ActorType.SERVICE, ActorType.APPLICATION),
        "discoverable": actor.discoverable,
        "indexable": actor.discoverable,
        "group": actor.type == ActorType.GROUP,
        "created_at": iso(actor.published_at),
        "note": actor.summary,
        "url": actor.url or actor.ap_id,
        "uri": actor.ap_id,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": stats["followers"],
        "following_count": stats["following"],
        "statuses_count": stats["statuses"],
        "last_status_at": last.astimezone(UTC).strftime("%Y-%m-%d") if last else None,
        "hide_collections": False,
        "noindex": not actor.discoverable,
        "emojis": [],
        "roles": [],
        "fields": _fields(actor),
        **({"suspended": True} if actor.suspended else {}),
    }


def accounts(actors: Sequence[Actor], *, viewer: Actor | None = None) -> list[dict[str, Any]]:
    """Account entities of several actors (counts in three queries)."""
    prefetch_related_objects([a for a in actors if a.local], "user")
    stats = account_stats(a.pk for a in actors)
    return [account(a, viewer=viewer, stats=stats[a.pk]) for a in actors]


def credential_account(actor: Actor) -> dict[str, Any]:
    """The CredentialAccount of the viewer itself: the Account plus ``source`` and ``role``."""
    data = account(actor, viewer=actor)
    user = actor.user
    pending = Follow.objects.filter(target=actor, state=FollowState.PENDING).count()
    data["source"] = {
        "privacy": (actor.data or {}).get("default_privacy", "public"),
        "sensitive": bool((actor.data or {}).get("default_sensitive", False)),
        "language": getattr(user, "language", "") or "",
        "note": getattr(user, "bio", "") or "",
        "fields": [{"name": f["name"], "value": f["value"], "verified_at": None} for f in data["fields"]],
        "follow_requests_count": pending,
    }
    # Mastodon's default "everyone" role (id -99); Tusky and Elk read ``role.permissions``.
    data["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
    return data


# ---------------------------------------------------------------- media, polls, tags


def media(m: Media) -> dict[str, Any]:
    """The MediaAttachment entity."""
    url = _file_url(m.file) or m.remote_url
    preview = _file_url(m.thumbnail) or url
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


def relationships(viewer: Actor, targets: Sequence[Actor]) -> list[dict[str, Any]]:
    """Relationship entities of ``viewer`` with each target, in six queries."""
    ids = [t.pk for t in targets]
    out_follows = dict(Follow.objects.filter(follower=viewer, target_id__in=ids).values_list("target_id", "state"))
    in_follows = dict(Follow.objects.filter(target=viewer, follower_id__in=ids).values_list("follower_id", "state"))
    blocking = set(ActorBlock.objects.filter(owner=viewer, target_id__in=ids).values_list("target_id", flat=True))
    blocked_by = set(ActorBlock.objects.filter(owner_id__in=ids, target=viewer).values_list("owner_id", flat=True))
    now = timezone.now()
    mutes = dict(
        Mute.objects.filter(owner=viewer, target_id__in=ids)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("target_id", "notifications")
    )
    out = []
    for t in targets:
        following = out_follows.get(t.pk) == FollowState.ACCEPTED
        out.append(
            {
                "id": str(t.pk),
                "following": following,
                "showing_reblogs": following,
                "notifying": False,
                "languages": None,
                "followed_by": in_follows.get(t.pk) == FollowState.ACCEPTED,
                "blocking": t.pk in blocking,
                "blocked_by": t.pk in blocked_by,
                "muting": t.pk in mutes,
                "muting_notifications": bool(mutes.get(t.pk, False)),
                "requested": out_follows.get(t.pk) == FollowState.PENDING,
                "requested_by": in_follows.get(t.pk) == FollowState.PENDING,
                "domain_blocking": False,
                "endorsed": False,
                "note": "",
            }
        )
    return out


def relationship(viewer: Actor, target: Actor) -> dict[str, Any]:
    """The Relationship entity of ``viewer`` with ``target``."""
    return relationships(viewer, [target])[0]

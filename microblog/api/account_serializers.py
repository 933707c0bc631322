"""Mastodon API entities of accounts: Account (and CredentialAccount), Relationship, plus the
datetime and URL forms every entity uses (docs.joinmastodon.org/entities).

Ids are strings of primary keys; datetimes are ISO 8601 in UTC with milliseconds
(``2019-12-08T03:48:33.901Z``), as Mastodon sends them. The list forms (:func:`accounts`,
:func:`relationships`) load everything a page needs in a fixed number of queries, whatever the
page size (no N+1). Statuses, media, polls and notifications are in ``serializers.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q, prefetch_related_objects
from django.templatetags.static import static
from django.utils import timezone

from federation.models import Actor, ActorBlock, ActorType, Follow, FollowState
from microblog.models import Mute, Post

DEFAULT_AVATAR = "microblog/api/missing-avatar.png"
DEFAULT_HEADER = "microblog/api/missing-header.png"


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


def file_url(field: Any) -> str:
    """The absolute URL of a stored file, or "" when there is none."""
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
    return (file_url(user.avatar) if user is not None else "") or absolute(static(DEFAULT_AVATAR))


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


# ---------------------------------------------------------------- relationships


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

"""Timelines as Mastodon shows them: home, public (local / remote), hashtag, account and
notifications, newest first by id, paginated with ``max_id`` / ``since_id`` / ``min_id`` /
``limit`` (``min_id`` = the page right after ``min_id``: read ascending, returned newest first).

Home is computed on read (no precomputed feed), so posting costs nothing per follower. To stay
fast for every reader (bench B7) the read is a hybrid, all in :mod:`microblog.home_feed`:

1. a **recent window**: the newest ``HOME_WINDOW`` ids (a row budget) filtered to the followed
   authors — enough for readers whose follows post often ("dense");
2. if that window holds fewer than ``limit`` posts, a **per-author top-N** pass over the rest:
   the latest visible post of each followed author (one index probe each), the ``limit``
   newest of those give a threshold id, and only those ``limit`` authors are read down to it
   ("sparse" readers, whose follows posted long ago, cost ``followed + limit²`` index entries,
   never a scan of the whole table).

Both passes apply the visibility rules in SQL (posts of followed accounts of every visibility
but ``direct``, direct ones only where the reader is mentioned, never deleted); Mastodon's home
filters (replies to accounts the reader does not follow, boosts of muted/blocked authors) run
on the loaded page, which is refilled when they drop something.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from federation.models import Actor, ActorBlock, Follow, FollowState
from microblog import home_feed
from microblog.models import Hashtag, Media, Mute, Notification, NotificationType, Pin, Post, Visibility

DEFAULT_LIMIT = 20
MAX_LIMIT = 40  # Mastodon's cap for statuses
MAX_NOTIFICATION_LIMIT = 80  # Mastodon's cap for notifications
MAX_ROUNDS = 6  # home refills after post-filters dropped rows


# ----------------------------------------------------------------------------- helpers


def _as_id(value: int | str | None) -> int | None:
    """A pagination id from the API (a string of digits) or None; anything else is ignored."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def clamp_limit(limit: int | str | None, maximum: int = MAX_LIMIT) -> int:
    """``limit`` as Mastodon reads it: default 20, at least 1, at most ``maximum``."""
    try:
        value = int(limit) if limit not in (None, "") else DEFAULT_LIMIT
    except (TypeError, ValueError):
        value = DEFAULT_LIMIT
    return max(1, min(value, maximum))


def paginate_queryset(
    qs: QuerySet, *, max_id: int | str | None, since_id: int | str | None, min_id: int | str | None, limit: int
) -> list:
    """One page of ``qs`` by primary key, newest first. With ``min_id`` the page right after
    it (read ascending, returned newest first; ``since_id`` is then ignored, as in Mastodon)."""
    upper, since, after = _as_id(max_id), _as_id(since_id), _as_id(min_id)
    if upper is not None:
        qs = qs.filter(pk__lt=upper)
    if after is not None:
        return list(reversed(qs.filter(pk__gt=after).order_by("pk")[:limit]))
    if since is not None:
        qs = qs.filter(pk__gt=since)
    return list(qs.order_by("-pk")[:limit])


def hidden_actor_ids(viewer: Actor | None) -> set[int]:
    """Actors whose posts ``viewer`` must not see in timelines: muted (unexpired), blocked by
    the viewer, blocking the viewer, or blocked node-wide."""
    return home_feed.relations(viewer.pk if viewer is not None else None)[1]


def _visible(viewer: Actor | None) -> QuerySet[Post]:
    from microblog.services import visible_posts

    return visible_posts(viewer)


def _without_replies(qs: QuerySet[Post]) -> QuerySet[Post]:
    """Not a reply, or a reply to the author's own post (a thread), as Mastodon's
    ``Status.without_replies``."""
    return qs.filter(Q(in_reply_to__isnull=True, in_reply_to_ap_id="") | Q(in_reply_to__author_id=F("author_id")))


def _with_media() -> Exists:
    return Exists(Media.objects.filter(post_id=OuterRef("pk")))


def _for_display(qs: QuerySet[Post]) -> QuerySet[Post]:
    return qs.select_related("author", "reblog_of__author")


# ----------------------------------------------------------------------------- timelines


def home(
    viewer: Actor,
    *,
    max_id: int | str | None = None,
    since_id: int | str | None = None,
    min_id: int | str | None = None,
    limit: int | str | None = DEFAULT_LIMIT,
) -> list[Post]:
    """The home timeline of ``viewer``: its own posts and the posts and boosts of the accounts
    it follows (accepted follows), each visible to it (followers-only of followed accounts,
    direct only where mentioned), without muted or blocked actors or deleted posts, without
    replies to accounts it does not follow; newest first by id, at most ``limit`` (≤ 40)."""
    return home_feed.read(
        viewer.pk,
        max_id=_as_id(max_id),
        since_id=_as_id(since_id),
        min_id=_as_id(min_id),
        limit=clamp_limit(limit),
        rounds=MAX_ROUNDS,
    )


def public(
    viewer: Actor | None,
    *,
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
    max_id: int | str | None = None,
    since_id: int | str | None = None,
    min_id: int | str | None = None,
    limit: int | str | None = DEFAULT_LIMIT,
) -> list[Post]:
    """The public timeline (``local``: this node's posts only; ``remote``: other servers' only):
    public posts, no boosts, no replies to others (Mastodon's default), none by actors the
    viewer muted or blocked (either way); newest first."""
    qs = _visible(viewer).filter(visibility=Visibility.PUBLIC, reblog_of__isnull=True, deleted_at__isnull=True)
    return _public_page(
        _without_replies(qs), viewer, local=local, remote=remote, only_media=only_media,
        max_id=max_id, since_id=since_id, min_id=min_id, limit=limit,
    )  # fmt: skip


def _public_page(
    qs: QuerySet[Post],
    viewer: Actor | None,
    *,
    local: bool,
    remote: bool,
    only_media: bool,
    max_id: int | str | None,
    since_id: int | str | None,
    min_id: int | str | None,
    limit: int | str | None,
) -> list[Post]:
    """The shared tail of the public and hashtag timelines: local/remote and media filters,
    muted/blocked authors removed, one page."""
    if local and not remote:
        qs = qs.filter(local=True)
    elif remote and not local:
        qs = qs.filter(local=False)
    if only_media:
        qs = qs.filter(_with_media())
    hidden = hidden_actor_ids(viewer) if viewer is not None else set()
    if hidden:
        qs = qs.exclude(author_id__in=hidden)
    return paginate_queryset(
        _for_display(qs), max_id=max_id, since_id=since_id, min_id=min_id, limit=clamp_limit(limit)
    )


def hashtag(
    viewer: Actor | None,
    name: str,
    *,
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
    max_id: int | str | None = None,
    since_id: int | str | None = None,
    min_id: int | str | None = None,
    limit: int | str | None = DEFAULT_LIMIT,
) -> list[Post]:
    """Public posts tagged ``#name`` (case-insensitive, leading ``#`` ignored), replies
    included, without muted/blocked authors; newest first. Unknown tag: empty list."""
    tag = Hashtag.objects.filter(name=name.lstrip("#").strip().lower()).first()
    if tag is None:
        return []
    tagged = Post.hashtags.through.objects.filter(hashtag_id=tag.pk, post_id=OuterRef("pk"))
    qs = _visible(viewer).filter(Exists(tagged), visibility=Visibility.PUBLIC, deleted_at__isnull=True)
    return _public_page(
        qs, viewer, local=local, remote=remote, only_media=only_media,
        max_id=max_id, since_id=since_id, min_id=min_id, limit=limit,
    )  # fmt: skip


def account(
    viewer: Actor | None,
    account: Actor,
    *,
    exclude_replies: bool = False,
    exclude_reblogs: bool = False,
    only_media: bool = False,
    pinned: bool = False,
    tagged: str | None = None,
    max_id: int | str | None = None,
    since_id: int | str | None = None,
    min_id: int | str | None = None,
    limit: int | str | None = DEFAULT_LIMIT,
) -> list[Post]:
    """Posts and boosts of ``account`` that ``viewer`` may see, newest first. As Mastodon:
    ``exclude_replies`` keeps self-replies (threads), ``pinned`` gives only the pinned posts,
    and nothing is shown when either side blocks the other or the account is suspended."""
    if account.suspended:
        return []
    if viewer is not None and viewer.pk != account.pk:
        blocked = ActorBlock.objects.filter(
            Q(owner_id=viewer.pk, target_id=account.pk) | Q(owner_id=account.pk, target_id=viewer.pk)
        ).exists()
        if blocked:
            return []
    qs = _visible(viewer).filter(author_id=account.pk, deleted_at__isnull=True)
    if pinned:
        qs = qs.filter(Exists(Pin.objects.filter(actor_id=account.pk, post_id=OuterRef("pk"))))
    if exclude_replies:
        qs = _without_replies(qs)
    if exclude_reblogs:
        qs = qs.filter(reblog_of__isnull=True)
    else:  # a boost of a deleted post disappears with it
        qs = qs.filter(Q(reblog_of__isnull=True) | Q(reblog_of__deleted_at__isnull=True))
    if only_media:
        qs = qs.filter(_with_media())
    if tagged:
        tag_rows = Post.hashtags.through.objects.filter(
            hashtag__name=tagged.lstrip("#").strip().lower(), post_id=OuterRef("pk")
        )
        qs = qs.filter(Exists(tag_rows))
    return paginate_queryset(
        _for_display(qs), max_id=max_id, since_id=since_id, min_id=min_id, limit=clamp_limit(limit)
    )


def _expand_types(types: Iterable[str] | None) -> set[str] | None:
    """Mastodon reports replies as ``mention``: a filter on ``mention`` covers our ``reply``."""
    if not types:
        return None
    wanted = {str(t) for t in types}
    if NotificationType.MENTION in wanted:
        wanted.add(NotificationType.REPLY)
    return wanted


def notifications(
    viewer: Actor,
    *,
    types: Iterable[str] | None = None,
    exclude_types: Iterable[str] | None = None,
    account_id: int | str | None = None,
    max_id: int | str | None = None,
    since_id: int | str | None = None,
    min_id: int | str | None = None,
    limit: int | str | None = DEFAULT_LIMIT,
) -> list[Notification]:
    """Notifications of ``viewer``, newest first: only ``types`` when given, never
    ``exclude_types``, only from ``account_id`` when given; none from actors the viewer mutes
    with notifications or blocks (either way), none about a deleted post. Limit ≤ 80."""
    qs = Notification.objects.filter(recipient_id=viewer.pk)
    wanted, unwanted = _expand_types(types), _expand_types(exclude_types)
    if wanted is not None:
        qs = qs.filter(type__in=wanted)
    if unwanted is not None:
        qs = qs.exclude(type__in=unwanted)
    sender = _as_id(account_id)
    if account_id not in (None, ""):
        qs = qs.filter(from_actor_id=sender if sender is not None else -1)
    now = timezone.now()
    muted = Mute.objects.filter(owner_id=viewer.pk, notifications=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    blocked = ActorBlock.objects.filter(
        Q(owner_id=viewer.pk) | Q(owner__isnull=True), target_id=OuterRef("from_actor_id")
    ).values("pk")
    blocking = ActorBlock.objects.filter(owner_id=OuterRef("from_actor_id"), target_id=viewer.pk).values("pk")
    qs = (
        qs.exclude(from_actor_id__in=muted.values("target_id"))
        .exclude(Exists(blocked))
        .exclude(Exists(blocking))
        .filter(Q(post__isnull=True) | Q(post__deleted_at__isnull=True))
        .select_related("from_actor", "post__author", "post__reblog_of__author")
    )
    return paginate_queryset(
        qs, max_id=max_id, since_id=since_id, min_id=min_id, limit=clamp_limit(limit, MAX_NOTIFICATION_LIMIT)
    )


def followed_ids(viewer: Actor) -> set[int]:
    """Ids of the actors ``viewer`` follows (accepted)."""
    return set(
        Follow.objects.filter(follower_id=viewer.pk, state=FollowState.ACCEPTED).values_list("target_id", flat=True)
    )

"""Display helpers of the web UI (read only): who is looking, paths, pagination, and timeline
entries with the viewer's likes, boosts, bookmarks and votes loaded in bulk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from federation.models import Actor, Follow
from microblog import timelines
from microblog.models import Bookmark, Favourite, PollVote, Post

PAGE_SIZE = 20


def viewer_of(request: HttpRequest) -> Actor | None:
    """The signed-in member's actor, or None for anonymous visitors (and accounts without one)."""
    user = request.user
    if not user.is_authenticated:
        return None
    return getattr(user, "actor", None)


def not_found(request: HttpRequest) -> HttpResponse:
    """The node's 404 page (the same answer for absent and invisible things)."""
    return render(request, "node/not_found.html", status=404)


def max_id_of(request: HttpRequest) -> int | None:
    value = request.GET.get("max_id", "")
    return int(value) if value.isdigit() else None


def next_url(request: HttpRequest, default: str) -> str:
    """Where to go after a POST: the form's ``next`` when it is a local path, else ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def post_path(post: Post) -> str:
    """The thread page of a post."""
    return reverse("post_detail", args=[post.pk])


def profile_path(actor: Actor) -> str:
    """The profile page of an actor: ``/@name`` for members, ``/@name@domain`` for remote accounts."""
    if actor.local:
        return reverse("profile", args=[actor.username])
    return reverse("remote_profile", kwargs={"username": actor.username, "domain": actor.domain})


@dataclass
class Entry:
    """A timeline item ready for display: the post shown (the original of a boost) and the viewer's state."""

    item: Post
    post: Post
    boosted_by: Actor | None = None
    favourited: bool = False
    reblogged: bool = False
    bookmarked: bool = False
    own: bool = False
    poll: Any = None
    poll_rows: list[dict[str, Any]] = field(default_factory=list)
    voted: bool = False
    can_vote: bool = False


def decorate(posts: list[Post], viewer: Actor | None) -> list[Entry]:
    """Entries for ``posts`` with authors, media, polls and the viewer's likes/boosts/bookmarks/votes
    loaded in a fixed number of queries (no N+1)."""
    posts = [p for p in posts if p is not None]
    prefetch_related_objects(
        posts, "author__user", "media", "poll__options", "reblog_of__author__user", "reblog_of__media",
        "reblog_of__poll__options",
    )  # fmt: skip
    shown = [p.reblog_of if p.reblog_of_id and p.reblog_of else p for p in posts]
    ids = {p.pk for p in shown}
    faves: set[int] = set()
    boosts: set[int] = set()
    marks: set[int] = set()
    votes: set[int] = set()
    if viewer is not None and ids:
        faves = set(Favourite.objects.filter(actor=viewer, post_id__in=ids).values_list("post_id", flat=True))
        boosts = set(
            Post.objects.filter(author=viewer, reblog_of_id__in=ids, deleted_at__isnull=True).values_list(
                "reblog_of_id", flat=True
            )
        )
        if viewer.user_id:
            marks = set(
                Bookmark.objects.filter(user_id=viewer.user_id, post_id__in=ids).values_list("post_id", flat=True)
            )
        votes = set(
            PollVote.objects.filter(voter=viewer, poll__post_id__in=ids).values_list("poll__post_id", flat=True)
        )
    entries = []
    for item, post in zip(posts, shown, strict=True):
        entry = Entry(
            item=item,
            post=post,
            boosted_by=item.author if post is not item else None,
            favourited=post.pk in faves,
            reblogged=post.pk in boosts,
            bookmarked=post.pk in marks,
            own=viewer is not None and post.author_id == viewer.pk,
            voted=post.pk in votes,
        )
        poll = getattr(post, "poll", None)
        if poll is not None:
            entry.poll = poll
            options = list(poll.options.all())
            total = sum(o.votes_count for o in options) or 0
            entry.poll_rows = [
                {
                    "index": o.position,
                    "title": o.title,
                    "votes": o.votes_count,
                    "percent": round(100 * o.votes_count / total) if total else 0,
                }
                for o in options
            ]
            entry.can_vote = viewer is not None and not entry.own and not entry.voted and not poll.expired
        entries.append(entry)
    return entries


def older_url(request: HttpRequest, items: list[Any], limit: int = PAGE_SIZE) -> str:
    """The link to the next (older) page, or "" at the end."""
    if len(items) < limit:
        return ""
    query = request.GET.copy()
    query["max_id"] = str(items[-1].pk)
    return f"{request.path}?{query.urlencode()}"


def follow_state(viewer: Actor | None, target: Actor) -> str:
    """``self``, ``accepted``, ``pending``, ``none`` (or ``anonymous``): what the follow button shows."""
    if viewer is None:
        return "anonymous"
    if viewer.pk == target.pk:
        return "self"
    state = Follow.objects.filter(follower=viewer, target=target).values_list("state", flat=True).first()
    return state if state in ("accepted", "pending") else "none"


def account_context(request: HttpRequest, actor: Actor) -> dict[str, Any]:
    """What a profile shows beyond the member card: counts, follow button and the account's posts."""
    viewer = viewer_of(request)
    posts = timelines.account(viewer, actor, max_id=max_id_of(request), limit=PAGE_SIZE)
    return {
        "account": actor,
        "follow_state": follow_state(viewer, actor),
        "followers_count": Follow.objects.filter(target=actor, state="accepted").count(),
        "following_count": Follow.objects.filter(follower=actor, state="accepted").count(),
        "entries": decorate(posts, viewer),
        "older_url": older_url(request, posts),
    }

"""The microblog's web UI, read side: timelines, thread view, remote profiles, notifications, search.

Visibility is decided by the services (``get_post_for``, ``visible_posts``, ``timelines``): an
invisible post answers 404 exactly like an absent one.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from federation.hosts import normalise_host
from federation.lookup import ActorNotFound, resolve_handle
from federation.models import Actor
from microblog import search, services, timelines
from microblog.forms import SearchForm
from microblog.models import Post
from microblog.web import compose_form_for
from microblog.web_display import (
    PAGE_SIZE,
    account_context,
    decorate,
    max_id_of,
    not_found,
    older_url,
    post_path,
    viewer_of,
)

MAX_ANCESTORS = 40
MAX_DESCENDANTS = 200


def _timeline_page(request: HttpRequest, *, kind: str, posts: list[Post], **extra: Any) -> HttpResponse:
    context = {
        "kind": kind,
        "entries": decorate(posts, viewer_of(request)),
        "older_url": older_url(request, posts),
        **extra,
    }
    return render(request, "microblog/timeline.html", context)


@login_required
@require_GET
def home_timeline(request: HttpRequest) -> HttpResponse:
    """The member's home timeline (own posts, followed accounts, boosts) with the compose form on top."""
    viewer = viewer_of(request)
    if viewer is None:
        return render(request, "microblog/forbidden.html", status=403)
    posts = timelines.home(viewer, max_id=max_id_of(request), limit=PAGE_SIZE)
    return _timeline_page(request, kind="home", posts=posts, compose_form=compose_form_for(viewer))


@require_GET
def local_timeline(request: HttpRequest) -> HttpResponse:
    """Public posts of this node's members; open to visitors."""
    posts = timelines.public(viewer_of(request), local=True, max_id=max_id_of(request), limit=PAGE_SIZE)
    return _timeline_page(request, kind="local", posts=posts)


@require_GET
def federated_timeline(request: HttpRequest) -> HttpResponse:
    """Public posts this node knows of, local and remote; open to visitors."""
    posts = timelines.public(viewer_of(request), max_id=max_id_of(request), limit=PAGE_SIZE)
    return _timeline_page(request, kind="federated", posts=posts)


@require_GET
def hashtag_timeline(request: HttpRequest, name: str) -> HttpResponse:
    """Public posts tagged ``#name``."""
    posts = timelines.hashtag(viewer_of(request), name.lower(), max_id=max_id_of(request), limit=PAGE_SIZE)
    return _timeline_page(request, kind="tag", posts=posts, tag=name)


def _thread(viewer: Actor | None, post: Post) -> tuple[list[Post], list[tuple[Post, int]]]:
    """Visible ancestors (oldest first) and descendants in reading order with their depth."""
    visible = services.visible_posts(viewer).filter(reblog_of__isnull=True)
    ancestors: list[Post] = []
    current = post
    while current.in_reply_to_id and len(ancestors) < MAX_ANCESTORS:
        parent = visible.filter(pk=current.in_reply_to_id).first()
        if parent is None:
            break
        ancestors.append(parent)
        current = parent
    ancestors.reverse()

    children: dict[int, list[Post]] = {}
    frontier, found = [post.pk], 0
    while frontier and found < MAX_DESCENDANTS:
        level = list(visible.filter(in_reply_to_id__in=frontier).order_by("id")[: MAX_DESCENDANTS - found])
        for reply in level:
            children.setdefault(reply.in_reply_to_id, []).append(reply)  # type: ignore[arg-type]
        found += len(level)
        frontier = [reply.pk for reply in level]

    descendants: list[tuple[Post, int]] = []

    def walk(parent_id: int, depth: int) -> None:
        for reply in children.get(parent_id, []):
            descendants.append((reply, depth))
            walk(reply.pk, depth + 1)

    walk(post.pk, 1)
    return ancestors, descendants


@require_GET
def post_detail(request: HttpRequest, post_id: int, username: str | None = None) -> HttpResponse:
    """A post with its visible ancestors and replies, and a reply form for members."""
    viewer = viewer_of(request)
    try:
        post = services.get_post_for(viewer, post_id)
    except Post.DoesNotExist:
        return not_found(request)
    if post.reblog_of_id:
        return redirect(post_path(post.reblog_of))  # type: ignore[arg-type]
    if username is not None and (not post.author.local or post.author.username != username):
        return not_found(request)
    ancestors, descendants = _thread(viewer, post)
    posts = [*ancestors, post, *(reply for reply, _depth in descendants)]
    entries = decorate(posts, viewer)
    depths = [0] * (len(ancestors) + 1) + [depth for _reply, depth in descendants]
    context = {
        "focus": entries[len(ancestors)],
        "ancestors": entries[: len(ancestors)],
        "descendants": list(zip(entries[len(ancestors) + 1 :], depths[len(ancestors) + 1 :], strict=True)),
        "reply_form": compose_form_for(viewer, reply_to=post) if viewer is not None else None,
    }
    return render(request, "microblog/thread.html", context)


def remote_profile(request: HttpRequest, username: str, domain: str) -> HttpResponse:
    """``/@user@domain``: a remote account found by WebFinger (members only may trigger a lookup),
    with the posts this node has stored; ``/@name@<this node>`` redirects to the member's page."""
    try:
        host = normalise_host(domain)
    except ValueError:
        return not_found(request)
    if host == normalise_host(str(settings.NODE_DOMAIN)):
        return redirect("profile", username)
    viewer = viewer_of(request)
    actor = Actor.objects.filter(local=False, username__iexact=username, domain=host).first()
    if actor is None and viewer is not None:
        try:
            actor = resolve_handle(f"{username}@{host}")
        except ActorNotFound:
            actor = None
    if actor is None or actor.suspended:
        return not_found(request)
    if actor.local:
        return redirect("profile", actor.username)
    return render(request, "microblog/remote_profile.html", account_context(request, actor))


@login_required
@require_GET
def notifications_page(request: HttpRequest) -> HttpResponse:
    """The member's notifications: mentions, replies, follows, likes, boosts, polls, edits."""
    viewer = viewer_of(request)
    if viewer is None:
        return render(request, "microblog/forbidden.html", status=403)
    items = list(timelines.notifications(viewer, max_id=max_id_of(request), limit=PAGE_SIZE))
    prefetch_related_objects(items, "from_actor", "post")
    return render(
        request,
        "microblog/notifications.html",
        {"notifications": items, "older_url": older_url(request, items)},
    )


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """Accounts (``user@domain`` resolved by WebFinger for members), hashtags and posts."""
    viewer = viewer_of(request)
    form = SearchForm(request.GET or None)
    results: dict[str, Any] | None = None
    if form.is_valid() and form.cleaned_data["q"].strip():
        query = form.cleaned_data["q"].strip()
        found = search.search(viewer, query, resolve=viewer is not None, limit=PAGE_SIZE)
        results = {
            "accounts": found.get("accounts", []),
            "hashtags": found.get("hashtags", []),
            "entries": decorate(list(found.get("statuses", [])), viewer),
        }
    return render(request, "microblog/search.html", {"form": form, "results": results})

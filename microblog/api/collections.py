"""Client API: who favourited or boosted a status, and the caller's bookmarks and favourites
(docs.joinmastodon.org/methods/statuses, /methods/bookmarks, /methods/favourites).

As on Mastodon, these lists page on the id of the underlying row (the ``Favourite``, the boost,
the ``Bookmark``), not on the status or account id; clients follow the ``Link`` header.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from microblog import services
from microblog.api import account_serializers, errors, serializers
from microblog.api.auth import api_view
from microblog.api.pagination import paginate
from microblog.api.statuses import optional_scope, visible_status
from microblog.models import Bookmark, Favourite, Post

ACCOUNTS_DEFAULT, ACCOUNTS_MAX = 40, 80  # Mastodon's limits for account lists
STATUSES_DEFAULT, STATUSES_MAX = 20, 40


@api_view(None)
def favourited_by(request: HttpRequest, status_id: str) -> Any:
    """``GET /api/v1/statuses/:id/favourited_by``: accounts that liked a visible status."""
    optional_scope(request, "read:statuses")
    post = visible_status(request, status_id)
    rows = Favourite.objects.filter(post=post.reblog_of or post).select_related("actor")
    page, link = paginate(request, rows, default=ACCOUNTS_DEFAULT, maximum=ACCOUNTS_MAX)
    data = account_serializers.accounts([f.actor for f in page], viewer=request.actor)  # type: ignore[attr-defined]
    return errors.json_response(data, link=link)


@api_view(None)
def reblogged_by(request: HttpRequest, status_id: str) -> Any:
    """``GET /api/v1/statuses/:id/reblogged_by``: accounts that boosted a visible status."""
    optional_scope(request, "read:statuses")
    post = visible_status(request, status_id)
    rows = Post.objects.filter(reblog_of=post.reblog_of or post, deleted_at__isnull=True).select_related("author")
    page, link = paginate(request, rows, default=ACCOUNTS_DEFAULT, maximum=ACCOUNTS_MAX)
    data = account_serializers.accounts([p.author for p in page], viewer=request.actor)  # type: ignore[attr-defined]
    return errors.json_response(data, link=link)


@api_view("read:bookmarks")
def bookmarks(request: HttpRequest) -> Any:
    """``GET /api/v1/bookmarks``: the caller's bookmarked statuses that are still visible to it,
    newest bookmark first."""
    viewer = request.actor  # type: ignore[attr-defined]
    member: Any = request.user  # always signed in: the scope requires a user token
    rows = Bookmark.objects.filter(user=member, post__in=services.visible_posts(viewer)).select_related("post")
    page, link = paginate(request, rows, default=STATUSES_DEFAULT, maximum=STATUSES_MAX)
    return errors.json_response(serializers.statuses([b.post for b in page], viewer=viewer), link=link)


@api_view("read:favourites")
def favourites(request: HttpRequest) -> Any:
    """``GET /api/v1/favourites``: statuses the caller liked that are still visible to it,
    newest like first."""
    viewer = request.actor  # type: ignore[attr-defined]
    rows = Favourite.objects.filter(actor=viewer, post__in=services.visible_posts(viewer)).select_related("post")
    page, link = paginate(request, rows, default=STATUSES_DEFAULT, maximum=STATUSES_MAX)
    return errors.json_response(serializers.statuses([f.post for f in page], viewer=viewer), link=link)

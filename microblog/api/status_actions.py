"""Client API: status interactions (docs.joinmastodon.org/methods/statuses): favourite,
reblog, bookmark, pin and their undos. Each answers the Status as the caller now sees it; the
writes are ``microblog.interactions``. Statuses the caller cannot see are 404, as everywhere.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from microblog import interactions
from microblog.api import errors, serializers
from microblog.api.auth import api_view
from microblog.api.statuses import fresh, original, visible_status
from microblog.models import Post, Visibility


@api_view("write:favourites", methods=["POST"])
def favourite(request: HttpRequest, status_id: str) -> Any:
    """``POST /api/v1/statuses/:id/favourite`` (idempotent); answers the favourited status."""
    post = original(visible_status(request, status_id))
    try:
        interactions.favourite(request.actor, post)  # type: ignore[attr-defined]
    except interactions.InteractionError:
        raise errors.NotFound() from None
    return serializers.status(fresh(post), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:favourites", methods=["POST"])
def unfavourite(request: HttpRequest, status_id: str) -> Any:
    """``POST /api/v1/statuses/:id/unfavourite`` (harmless when not favourited)."""
    post = original(visible_status(request, status_id))
    interactions.unfavourite(request.actor, post)  # type: ignore[attr-defined]
    return serializers.status(fresh(post), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:statuses", methods=["POST"])
def reblog(request: HttpRequest, status_id: str) -> Any:
    """``POST /api/v1/statuses/:id/reblog``: answers the boost, the boosted status inside
    ``reblog``. Boosting a followers-only or direct status is 403, as Mastodon's policy says."""
    post = visible_status(request, status_id)
    try:
        boost = interactions.reblog(request.actor, post)  # type: ignore[attr-defined]
    except interactions.InteractionError:
        raise errors.Forbidden() from None
    return serializers.status(fresh(boost), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:statuses", methods=["POST"])
def unreblog(request: HttpRequest, status_id: str) -> Any:
    """``POST /api/v1/statuses/:id/unreblog``: answers the original status, no longer boosted."""
    post = original(visible_status(request, status_id))
    interactions.unreblog(request.actor, post)  # type: ignore[attr-defined]
    return serializers.status(fresh(post), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:bookmarks", methods=["POST"])
def bookmark(request: HttpRequest, status_id: str) -> Any:
    """``POST /api/v1/statuses/:id/bookmark`` (private, never federated)."""
    post = original(visible_status(request, status_id))
    try:
        interactions.bookmark(request.user, post)
    except interactions.InteractionError:
        raise errors.NotFound() from None
    return serializers.status(fresh(post), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:bookmarks", methods=["POST"])
def unbookmark(request: HttpRequest, status_id: str) -> Any:
    """``POST /api/v1/statuses/:id/unbookmark``."""
    post = original(visible_status(request, status_id))
    interactions.unbookmark(request.user, post)
    return serializers.status(fresh(post), viewer=request.actor)  # type: ignore[attr-defined]


def _pin_error(actor: Any, post: Post, exc: Exception) -> errors.ApiError:
    """Mastodon's 422 wording for refused pins (StatusPinValidator)."""
    if post.author_id != actor.pk or post.reblog_of_id:
        return errors.ValidationFailed("Someone else's post cannot be pinned")
    if post.visibility == Visibility.DIRECT:
        return errors.ValidationFailed("Posts that are only visible to mentioned users cannot be pinned")
    if "at most" in str(exc):
        return errors.ValidationFailed("You have already pinned the maximum number of posts")
    text = str(exc)
    return errors.ValidationFailed(text[:1].upper() + text[1:])


@api_view("write:accounts", methods=["POST"])
def pin(request: HttpRequest, status_id: str) -> Any:
    """``POST /api/v1/statuses/:id/pin``: feature one of the caller's own statuses."""
    post = visible_status(request, status_id)
    try:
        interactions.pin(request.actor, post)  # type: ignore[attr-defined]
    except interactions.InteractionError as exc:
        raise _pin_error(request.actor, post, exc) from None  # type: ignore[attr-defined]
    return serializers.status(fresh(post), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:accounts", methods=["POST"])
def unpin(request: HttpRequest, status_id: str) -> Any:
    """``POST /api/v1/statuses/:id/unpin`` (harmless when not pinned)."""
    post = visible_status(request, status_id)
    interactions.unpin(request.actor, post)  # type: ignore[attr-defined]
    return serializers.status(fresh(post), viewer=request.actor)  # type: ignore[attr-defined]

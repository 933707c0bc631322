"""Blocks, mutes and follow requests: ``/api/v1/accounts/:id/(un)block|(un)mute``,
``/api/v1/blocks``, ``/api/v1/mutes``, ``/api/v1/follow_requests`` (+ authorize/reject)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from federation import follows as follow_service
from federation.models import Actor, ActorBlock, Follow, FollowState
from microblog import interactions
from microblog.api import account_serializers
from microblog.api.accounts import ACCOUNT_LIST_DEFAULT, ACCOUNT_LIST_MAX, get_account
from microblog.api.auth import api_view, param_bool, param_int
from microblog.api.errors import Forbidden, NotFound, ValidationFailed, json_response
from microblog.api.pagination import paginate
from microblog.models import Mute


def _viewer(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined,no-any-return]


@api_view(("write:blocks", "follow"), methods=("POST",))
def block(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/accounts/:id/block``: ends follows both ways; a remote account gets ``Block``."""
    viewer, target = _viewer(request), get_account(account_id)
    if target.pk == viewer.pk:
        raise Forbidden()
    try:
        interactions.block(viewer, target)
    except interactions.InteractionError as exc:
        raise ValidationFailed(str(exc)) from exc
    return account_serializers.relationship(viewer, target)


@api_view(("write:blocks", "follow"), methods=("POST",))
def unblock(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/accounts/:id/unblock``."""
    viewer, target = _viewer(request), get_account(account_id)
    interactions.unblock(viewer, target)
    return account_serializers.relationship(viewer, target)


@api_view(("write:mutes", "follow"), methods=("POST",))
def mute(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/accounts/:id/mute`` (``notifications`` default true, ``duration`` in
    seconds, 0 = until unmuted)."""
    viewer, target = _viewer(request), get_account(account_id)
    params = request.params  # type: ignore[attr-defined]
    if target.pk == viewer.pk:
        raise Forbidden()
    duration = param_int(params.get("duration"), 0) or None
    try:
        interactions.mute(
            viewer, target, notifications=param_bool(params.get("notifications"), True), duration=duration
        )
    except interactions.InteractionError as exc:
        raise ValidationFailed(str(exc)) from exc
    return account_serializers.relationship(viewer, target)


@api_view(("write:mutes", "follow"), methods=("POST",))
def unmute(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/accounts/:id/unmute``."""
    viewer, target = _viewer(request), get_account(account_id)
    interactions.unmute(viewer, target)
    return account_serializers.relationship(viewer, target)


def _accounts_page(request: HttpRequest, qs: Any, side: str) -> Any:
    rows, link = paginate(request, qs.select_related(side), default=ACCOUNT_LIST_DEFAULT, maximum=ACCOUNT_LIST_MAX)
    actors = [getattr(row, side) for row in rows]
    return json_response(account_serializers.accounts(actors, viewer=_viewer(request)), link=link)


@api_view(("read:blocks", "follow"))
def blocks(request: HttpRequest) -> Any:
    """``GET /api/v1/blocks``: accounts the viewer blocks (paginated by block id)."""
    return _accounts_page(request, ActorBlock.objects.filter(owner=_viewer(request)), "target")


@api_view(("read:mutes", "follow"))
def mutes(request: HttpRequest) -> Any:
    """``GET /api/v1/mutes``: accounts the viewer mutes (expired mutes left out)."""
    qs = Mute.objects.filter(owner=_viewer(request)).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    return _accounts_page(request, qs, "target")


@api_view(("read:follows", "follow"))
def follow_requests(request: HttpRequest) -> Any:
    """``GET /api/v1/follow_requests``: pending requests to the (locked) viewer."""
    qs = Follow.objects.filter(target=_viewer(request), state=FollowState.PENDING)
    return _accounts_page(request, qs, "follower")


def _pending(viewer: Actor, account_id: int) -> Follow:
    row = (
        Follow.objects.select_related("follower", "target")
        .filter(target=viewer, follower_id=account_id, state=FollowState.PENDING)
        .first()
    )
    if row is None:
        raise NotFound()
    return row


@api_view(("write:follows", "follow"), methods=("POST",))
def authorize_request(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/follow_requests/:id/authorize``: accept (a remote follower gets ``Accept``)."""
    viewer = _viewer(request)
    row = _pending(viewer, account_id)
    follow_service.accept_follow(row)
    return account_serializers.relationship(viewer, row.follower)


@api_view(("write:follows", "follow"), methods=("POST",))
def reject_request(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/follow_requests/:id/reject`` (a remote follower gets ``Reject``)."""
    viewer = _viewer(request)
    row = _pending(viewer, account_id)
    follower = row.follower
    follow_service.reject_follow(row)
    return account_serializers.relationship(viewer, follower)

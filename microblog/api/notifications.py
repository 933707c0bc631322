"""Client API: notifications (docs.joinmastodon.org/methods/notifications).

``GET /api/v1/notifications`` (``types[]``, ``exclude_types[]``, ``account_id``, pagination
with ``Link``; 40 by default, at most 80), ``GET /api/v1/notifications/:id``,
``POST /api/v1/notifications/clear`` and ``POST /api/v1/notifications/:id/dismiss``. Replies
are reported with Mastodon's type ``mention`` (the serializer maps them); filtering on
``mention`` covers them (``microblog.timelines.notifications``).

Dismissing and clearing only delete the member's own notification rows: nothing federates and
nothing else depends on them, so they are written here directly.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from microblog import timelines
from microblog.api import errors, serializers
from microblog.api.auth import api_view, param_int, param_list, param_str
from microblog.api.pagination import link_header, page_params
from microblog.api.statuses import record_id
from microblog.models import Marker, Notification

DEFAULT_LIMIT, MAX_LIMIT = 40, 80  # Mastodon 4.1+
UNREAD_DEFAULT, UNREAD_MAX = 100, 1000  # Mastodon 4.3's unread_count caps


@api_view("read:notifications")
def notification_list(request: HttpRequest) -> Any:
    """``GET /api/v1/notifications``: the caller's notifications, newest first."""
    page = page_params(request, default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
    rows = timelines.notifications(request.actor, **_filters(request), **page.as_kwargs())  # type: ignore[attr-defined]
    data = serializers.notifications(rows, viewer=request.actor)  # type: ignore[attr-defined]
    return errors.json_response(data, link=link_header(request, rows))


def _filters(request: HttpRequest) -> dict[str, Any]:
    params = request.params  # type: ignore[attr-defined]
    return {
        "types": [param_str(t) for t in param_list(params.get("types"))] or None,
        "exclude_types": [param_str(t) for t in param_list(params.get("exclude_types"))] or None,
        "account_id": param_str(params.get("account_id")).strip() or None,
    }


@api_view("read:notifications")
def unread_count(request: HttpRequest) -> Any:
    """``GET /api/v1/notifications/unread_count``: how many notifications are newer than the
    ``notifications`` read marker, capped at ``limit`` (100, at most 1000); same filters as the list."""
    member: Any = request.user  # always signed in: the scope requires a user token
    marker = Marker.objects.filter(user=member, timeline="notifications").first()
    since = marker.last_read_id if marker is not None and marker.last_read_id.isdigit() else None
    asked = param_int(request.params.get("limit"), UNREAD_DEFAULT)  # type: ignore[attr-defined]
    limit = max(1, min(asked or UNREAD_DEFAULT, UNREAD_MAX))
    rows = timelines.notifications(
        request.actor,  # type: ignore[attr-defined]
        **_filters(request),
        since_id=since,
        limit=MAX_LIMIT,
    )
    count = len(rows)
    if count == MAX_LIMIT and limit > MAX_LIMIT:  # the service pages by 80: count the rest
        while rows and count < limit:
            rows = timelines.notifications(
                request.actor,  # type: ignore[attr-defined]
                **_filters(request),
                since_id=since,
                max_id=rows[-1].pk,
                limit=MAX_LIMIT,
            )
            count += len(rows)
    return {"count": min(count, limit)}


def _own(request: HttpRequest, notification_id: str) -> Notification:
    viewer = request.actor  # type: ignore[attr-defined]
    row = (
        Notification.objects.filter(recipient=viewer, pk=record_id(notification_id))
        .select_related("from_actor", "post")
        .first()
    )
    if row is None:
        raise errors.NotFound()
    return row


@api_view("read:notifications")
def notification_detail(request: HttpRequest, notification_id: str) -> Any:
    """``GET /api/v1/notifications/:id``: one of the caller's notifications (else 404)."""
    return serializers.notification(_own(request, notification_id), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:notifications", methods=["POST"])
def clear(request: HttpRequest) -> Any:
    """``POST /api/v1/notifications/clear``: delete all the caller's notifications; ``{}``."""
    Notification.objects.filter(recipient=request.actor).delete()  # type: ignore[attr-defined]
    return {}


@api_view("write:notifications", methods=["POST"])
def dismiss(request: HttpRequest, notification_id: str) -> Any:
    """``POST /api/v1/notifications/:id/dismiss``: delete one of the caller's notifications; ``{}``."""
    _own(request, notification_id).delete()
    return {}

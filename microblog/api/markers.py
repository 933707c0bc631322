"""Client API: read markers (docs.joinmastodon.org/methods/markers).

``GET /api/v1/markers?timeline[]=home&timeline[]=notifications`` and ``POST /api/v1/markers``
with ``home[last_read_id]`` / ``notifications[last_read_id]`` (form or JSON). Each save bumps
the marker's ``version``. A marker is the member's own reading position: nothing federates and
nothing depends on it, so it is written here directly.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from microblog.api import account_serializers
from microblog.api.auth import api_view, param_list, param_str
from microblog.models import Marker

TIMELINES = ("home", "notifications")


def marker_entity(marker: Marker) -> dict[str, Any]:
    """The Marker entity."""
    return {
        "last_read_id": marker.last_read_id,
        "version": marker.version,
        "updated_at": account_serializers.iso(marker.updated_at),
    }


def save_marker(user: Any, timeline: str, last_read_id: str) -> Marker:
    """Set ``user``'s position in ``timeline``; the version grows by one on every save."""
    with transaction.atomic():
        marker = Marker.objects.select_for_update().filter(user=user, timeline=timeline).first()
        if marker is None:
            return Marker.objects.create(
                user=user, timeline=timeline, last_read_id=last_read_id, version=0, updated_at=timezone.now()
            )
        marker.last_read_id = last_read_id
        marker.version += 1
        marker.updated_at = timezone.now()
        marker.save(update_fields=["last_read_id", "version", "updated_at"])
        return marker


@api_view({"GET": "read:statuses", "POST": "write:statuses"}, methods=["GET", "POST"])
def markers(request: HttpRequest) -> Any:
    """``GET``: the markers of the timelines asked for (``{}`` when none); ``POST``: save the
    positions given and answer those markers."""
    params = request.params  # type: ignore[attr-defined]
    if request.method == "POST":
        saved: dict[str, Any] = {}
        for timeline in TIMELINES:
            value = params.get(timeline)
            if isinstance(value, dict) and param_str(value.get("last_read_id")).strip():
                marker = save_marker(request.user, timeline, param_str(value["last_read_id"]).strip()[:32])
                saved[timeline] = marker_entity(marker)
        return saved
    wanted = [t for t in (param_str(v) for v in param_list(params.get("timeline"))) if t in TIMELINES]
    member: Any = request.user  # always signed in: the scopes require a user token
    rows = Marker.objects.filter(user=member, timeline__in=wanted)
    return {m.timeline: marker_entity(m) for m in rows}

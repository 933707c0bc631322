"""Client API: media attachments (docs.joinmastodon.org/methods/media).

``POST /api/v2/media`` (and the deprecated ``POST /api/v1/media``, same behaviour): a
multipart ``file`` with an optional ``description``. Images are checked and processed
synchronously by ``microblog.media.create_media``, so the answer is 200 with the full
MediaAttachment (Mastodon 4 does the same for images; 202 is only for slow video). A refused
upload is 422 with the reason and stores nothing.

``GET``/``PUT``/``DELETE /api/v1/media/:id`` only see the caller's attachments; like Mastodon,
``GET``/``PUT`` only see those not yet attached to a status (an attached one is edited through
``PUT /api/v1/statuses/:id`` ``media_attributes[]``), and ``DELETE`` refuses attached ones.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

from microblog import media as media_service
from microblog.api import errors, serializers
from microblog.api.auth import api_view, param_str
from microblog.api.statuses import record_id
from microblog.models import Media

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@api_view("write:media", methods=["POST"])
def upload(request: HttpRequest) -> Any:
    """``POST /api/v2/media`` and ``/api/v1/media``: store an image; 200 with the attachment."""
    file = request.FILES.get("file")
    if file is None:
        raise errors.ValidationFailed("File can't be blank")
    description = param_str(request.params.get("description"))  # type: ignore[attr-defined]
    try:
        item = media_service.create_media(request.actor, file, description=description)  # type: ignore[attr-defined]
    except media_service.MediaError as exc:
        raise errors.ValidationFailed(exc.message) from None
    return serializers.media(item)


def _own(request: HttpRequest, media_id: str, *, unattached: bool) -> Media:
    rows = Media.objects.filter(owner=request.actor, pk=record_id(media_id))  # type: ignore[attr-defined]
    if unattached:
        rows = rows.filter(post__isnull=True)
    item = rows.first()
    if item is None:
        raise errors.NotFound()
    return item


def _describe(item: Media, value: Any) -> None:
    """Set the alt text (same limit and cleaning as uploads, ``microblog.media``)."""
    description = _CONTROL.sub("", param_str(value)).strip()
    if len(description) > media_service.MAX_DESCRIPTION:
        raise errors.ValidationFailed(
            f"Description is too long (maximum is {media_service.MAX_DESCRIPTION} characters)"
        )
    item.description = description
    item.save(update_fields=["description"])


@api_view("write:media", methods=["GET", "PUT", "DELETE"])
def media_detail(request: HttpRequest, media_id: str) -> Any:
    """``GET`` an unattached attachment, ``PUT`` its ``description``, ``DELETE`` it (``{}``)."""
    if request.method == "DELETE":
        item = _own(request, media_id, unattached=False)
        if item.post_id is not None:
            # Mastodon 4.4's wording for deleting an attachment still in use.
            raise errors.ApiError("Media attachment is currently used by a status", 422)
        media_service.delete_media_files(item)
        item.delete()
        return {}
    item = _own(request, media_id, unattached=True)
    if request.method == "PUT" and "description" in request.params:  # type: ignore[attr-defined]
        _describe(item, request.params["description"])  # type: ignore[attr-defined]
    return serializers.media(item)

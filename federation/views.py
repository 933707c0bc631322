"""ActivityPub GET endpoints: actor documents (with content negotiation) and their collections.

"Absent" and "not allowed" give the same 404 on every ActivityPub GET, so nothing can be
learnt by probing ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from federation import registry
from federation.activitypub import actor_to_ap, ordered_collection, ordered_collection_page
from federation.models import Actor, Follow, FollowState, OutboxActivity
from federation.vocab import AP_CONTENT_TYPE, wants_activitypub

PAGE_SIZE = 50


def activity_json(doc: dict[str, Any], status: int = 200) -> HttpResponse:
    """An AS2 response: ``application/activity+json``, UTF-8 JSON, ``Vary: Accept``."""
    response = HttpResponse(
        json.dumps(doc, ensure_ascii=False, separators=(",", ":")),
        content_type=f"{AP_CONTENT_TYPE}; charset=utf-8",
        status=status,
    )
    response["Vary"] = "Accept"
    return response


def _local_actor(actor_pk: int) -> Actor:
    actor = get_object_or_404(Actor, pk=actor_pk, local=True)
    if actor.suspended:
        raise Http404
    return actor


@require_GET
def actor_view(request: HttpRequest, actor_pk: int) -> HttpResponse:
    """The actor as AS2 JSON for ActivityPub clients; browsers are sent to its HTML page."""
    actor = _local_actor(actor_pk)
    if wants_activitypub(request.headers.get("Accept", "")):
        return activity_json(actor_to_ap(actor))
    response = HttpResponseRedirect(actor.url or "/")
    response["Vary"] = "Accept"
    return response


def _page_bounds(request: HttpRequest) -> tuple[bool, int | None]:
    """(is a page requested, ``max_id`` cursor) from ``?page=1[&max_id=N]``; bad cursors are 404."""
    if "page" not in request.GET:
        return False, None
    raw = request.GET.get("max_id")
    if raw is None:
        return True, None
    if not raw.isdigit():
        raise Http404
    return True, int(raw)


def _paged_collection(
    request: HttpRequest, collection_id: str, rows: QuerySet[Any], item: Callable[[Any], Any]
) -> HttpResponse:
    """The collection header, or one page of ``rows`` (newest first, keyset on ``pk``)."""
    paged, max_id = _page_bounds(request)
    if not paged:
        return activity_json(ordered_collection(collection_id, rows.count(), first=f"{collection_id}?page=1"))
    if max_id is not None:
        rows = rows.filter(pk__lt=max_id)
    batch = list(rows.order_by("-pk")[: PAGE_SIZE + 1])
    more = len(batch) > PAGE_SIZE
    batch = batch[:PAGE_SIZE]
    next_id = f"{collection_id}?page=1&max_id={batch[-1].pk}" if more and batch else None
    page_id = f"{collection_id}?page=1" + (f"&max_id={max_id}" if max_id is not None else "")
    return activity_json(ordered_collection_page(collection_id, page_id, [item(r) for r in batch], next_id=next_id))


@require_GET
def followers_view(request: HttpRequest, actor_pk: int) -> HttpResponse:
    """Accepted followers of a local actor, newest first, paged by ``max_id``; only
    ``totalItems`` when a registered policy hides the items (``registry.followers_listed``)."""
    actor = _local_actor(actor_pk)
    rows = Follow.objects.filter(target=actor, state=FollowState.ACCEPTED).select_related("follower")
    if not registry.followers_listed(actor, request):
        return activity_json(ordered_collection(actor.followers_url, rows.count(), first=None))
    return _paged_collection(request, actor.followers_url, rows, lambda f: f.follower.ap_id)


@require_GET
def following_view(request: HttpRequest, actor_pk: int) -> HttpResponse:
    """Actors a local actor follows (accepted), newest first, paged by ``max_id``."""
    actor = _local_actor(actor_pk)
    rows = Follow.objects.filter(follower=actor, state=FollowState.ACCEPTED).select_related("target")
    return _paged_collection(request, actor.following_url, rows, lambda f: f.target.ap_id)


@require_GET
def outbox_view(request: HttpRequest, actor_pk: int) -> HttpResponse:
    """Public activities of a local actor, newest first, paged by ``max_id``."""
    actor = _local_actor(actor_pk)
    rows = OutboxActivity.objects.filter(actor=actor, public=True)
    return _paged_collection(
        request, actor.outbox_url, rows, lambda a: {k: v for k, v in a.body.items() if k != "@context"}
    )


@require_GET
def featured_view(request: HttpRequest, actor_pk: int) -> HttpResponse:
    """Pinned objects, as an app registered them (``registry.register_collection("featured", ...)``)."""
    actor = _local_actor(actor_pk)
    items = registry.collection_items("featured", actor)
    doc = ordered_collection(actor.featured_url, len(items), first=None)
    doc["orderedItems"] = items
    return activity_json(doc)

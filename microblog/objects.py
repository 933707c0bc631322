"""ActivityPub GET endpoints of posts: ``/objects/<id>`` (the post as AS2) and
``/activities/<uuid>`` (a stored public activity of this node).

As for actors, "absent" and "not allowed" are the same 404: only public and unlisted posts are
served (fetches are answered without regard to signatures, so nothing followers-only or direct
can leak). A deleted public post answers 410 with its ``Tombstone``. Browsers asking for HTML
are redirected to the post's page.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_GET

from federation.models import OutboxActivity
from federation.views import activity_json
from federation.vocab import wants_activitypub
from microblog.activitypub import post_to_ap
from microblog.models import Post, Visibility

OPEN = (Visibility.PUBLIC, Visibility.UNLISTED)


@require_GET
def object_view(request: HttpRequest, object_id: str) -> HttpResponse:
    """A local public/unlisted post as AS2 (``Tombstone`` with 410 once deleted); 404 otherwise."""
    ap_id = f"{settings.NODE_BASE_URL}/objects/{object_id}"
    post = (
        Post.objects.select_related("author", "in_reply_to", "audience")
        .filter(ap_id=ap_id, local=True, visibility__in=OPEN, reblog_of__isnull=True)
        .first()
    )
    if post is None or post.author.suspended:
        raise Http404
    if not wants_activitypub(request.headers.get("Accept", "")):
        if post.deleted_at is not None:
            raise Http404
        response = HttpResponseRedirect(post.url or "/")
        response["Vary"] = "Accept"
        return response
    return activity_json(post_to_ap(post), status=410 if post.deleted_at is not None else 200)


@require_GET
def activity_view(request: HttpRequest, activity_uuid: str) -> HttpResponse:
    """A public activity this node published (Create, Update, Delete, Announce, ...) as AS2."""
    ap_id = f"{settings.NODE_BASE_URL}/activities/{activity_uuid}"
    row = OutboxActivity.objects.filter(ap_id=ap_id, public=True).first()
    if row is None:
        raise Http404
    body = dict(row.body)
    if body.get("type") != "Delete":
        obj_id = body.get("object", {}).get("id") if isinstance(body.get("object"), dict) else None
        if obj_id and Post.objects.filter(ap_id=obj_id, deleted_at__isnull=False).exists():
            raise Http404  # the Create/Update of a deleted post is gone with it
    return activity_json(body)

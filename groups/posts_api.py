"""Client API for group posts and polls (G2), next to G1's ``groups/api.py``:

- ``GET /api/v1/groups/:id/statuses`` — the group timeline (``max_id``/``limit``, ``Link``);
  members see everything, others only public posts (a members-only group shows them nothing);
- ``POST /api/v1/groups/:id/statuses`` (``status``, optional ``spoiler_text``, ``language``) —
  a member posts to the group; 403 for non-members;
- ``GET /api/v1/groups/:id/polls/:poll_id`` — totals and turnout of a group poll (members),
  voters for officers (choices only when the ballot is not secret).

``:id`` is the ``Group`` id, as in G1's endpoints.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from groups.models import Group
from groups.posts import create_group_post, group_timeline
from groups.votes import results
from microblog.api import serializers
from microblog.api.auth import api_view, param_str
from microblog.api.errors import ApiError
from microblog.api.pagination import link_header, page_params
from microblog.models import Poll
from microblog.services import PostError


def _group(group_id: int) -> Group:
    return Group.objects.select_related("actor").get(pk=group_id)


@api_view({"GET": None, "POST": "write:statuses"}, methods=("GET", "POST"))
def group_statuses(request: HttpRequest, group_id: int) -> Any:
    """The group's timeline, or a member's new group post."""
    group = _group(group_id)
    viewer = request.actor  # type: ignore[attr-defined]
    if request.method == "POST":
        params = request.params  # type: ignore[attr-defined]
        try:
            post = create_group_post(
                viewer,
                group.actor,
                text=param_str(params.get("status")),
                summary=param_str(params.get("spoiler_text")),
                language=param_str(params.get("language")),
            )
        except PostError as exc:
            raise ApiError(exc.message, 422) from exc
        return serializers.status(post, viewer=viewer)
    page = page_params(request)
    posts = group_timeline(viewer, group.actor, max_id=page.max_id, limit=page.limit)
    response = JsonResponse(serializers.statuses(posts, viewer=viewer), safe=False)
    link = link_header(request, posts)
    if link:
        response["Link"] = link
    return response


@api_view("read:statuses")
def group_poll(request: HttpRequest, group_id: int, poll_id: int) -> Any:
    """Totals and turnout of one of the group's polls (members only)."""
    group = _group(group_id)
    poll = Poll.objects.select_related("post", "post__author").get(pk=poll_id, post__author=group.actor)
    return results(poll, request.actor)  # type: ignore[attr-defined]

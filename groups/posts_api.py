"""Client API for group posts and polls (G2), next to G1's ``groups/api.py``:

- ``GET /api/v1/groups/:id/statuses`` — the group timeline (``max_id``/``since_id``/``min_id``/
  ``limit``, ``Link``); members see everything, others only public posts (a members-only
  group shows them nothing);
- ``GET /api/v1/groups/account/:account_id/statuses`` — the same for any group actor known
  here by its account id, remote groups included (their announced posts, for members);
- ``POST /api/v1/groups/:id/statuses`` (``status``, optional ``spoiler_text``, ``language``) —
  a member posts to the group; 403 for non-members. With ``poll[options][]``,
  ``poll[expires_in]`` (and optional ``poll[multiple]``, ``poll[secret]``) an officer with the
  ``polls`` permission opens a group poll instead (a ``Question`` by the group actor);
- ``GET /api/v1/groups/:id/polls/:poll_id`` — totals and turnout of a group poll (members),
  voters for officers (choices only when the ballot is not secret).

``:id`` is the ``Group`` id, as in G1's endpoints.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse

from federation.models import Actor, ActorType
from groups.models import Group
from groups.posts import create_group_post
from groups.timeline import timeline
from groups.votes import create_group_poll, results
from microblog.api import serializers
from microblog.api.auth import api_view, param_bool, param_list, param_str
from microblog.api.errors import ApiError
from microblog.api.pagination import link_header, page_params
from microblog.models import Poll
from microblog.services import PostError


def _group(group_id: int) -> Group:
    return Group.objects.select_related("actor").get(pk=group_id)


def _poll_spec(params: dict[str, Any]) -> dict[str, Any] | None:
    """The group poll asked for (Mastodon's ``poll[...]`` parameters), or None."""
    raw = params.get("poll")
    if not isinstance(raw, dict):
        return None
    expires = param_str(raw.get("expires_in")).strip()
    if not expires.isdigit():
        raise ApiError("Poll expiration must be a number of seconds", 422)
    return {
        "options": [param_str(o) for o in param_list(raw.get("options"))],
        "expires_in": int(expires),
        "multiple": param_bool(raw.get("multiple")),
        "secret": param_bool(raw.get("secret")),
    }


@api_view({"GET": None, "POST": "write:statuses"}, methods=("GET", "POST"))
def group_statuses(request: HttpRequest, group_id: int) -> Any:
    """The group's timeline, or a member's new group post."""
    group = _group(group_id)
    viewer = request.actor  # type: ignore[attr-defined]
    if request.method == "POST":
        params = request.params  # type: ignore[attr-defined]
        spec = _poll_spec(params)
        try:
            if spec is not None:
                if viewer is None:
                    raise PermissionDenied("sign in to open a poll")
                post = create_group_poll(viewer, group, text=param_str(params.get("status")), **spec)
                return serializers.status(post, viewer=viewer)
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
    return _timeline_response(request, viewer, group.actor)


def _timeline_response(request: HttpRequest, viewer: Actor | None, group_actor: Actor) -> JsonResponse:
    page = page_params(request)
    posts = timeline(
        viewer, group_actor, max_id=page.max_id, since_id=page.since_id, min_id=page.min_id, limit=page.limit
    )
    response = JsonResponse(serializers.statuses(posts, viewer=viewer), safe=False)
    link = link_header(request, posts)
    if link:
        response["Link"] = link
    return response


@api_view(None)
def group_account_statuses(request: HttpRequest, account_id: int) -> Any:
    """The timeline of the group whose account id is ``account_id`` (ours or a remote group
    known here); 404 when that account is not a group."""
    group_actor = Actor.objects.get(pk=account_id, type=ActorType.GROUP, suspended=False)
    return _timeline_response(request, request.actor, group_actor)  # type: ignore[attr-defined]


@api_view("read:statuses")
def group_poll(request: HttpRequest, group_id: int, poll_id: int) -> Any:
    """Totals and turnout of one of the group's polls (members only)."""
    group = _group(group_id)
    poll = Poll.objects.select_related("post", "post__author").get(pk=poll_id, post__author=group.actor)
    return results(poll, request.actor)  # type: ignore[attr-defined]

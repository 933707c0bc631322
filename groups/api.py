"""Client API for groups under ``/api/v1/groups`` (Redcloud extension; documented in
``docs/openapi.yaml``). Errors follow the Mastodon API: ``{"error": ...}`` with 401/403/404/422.

A group's Mastodon account (``account`` field) has ``group: true``; following it through
``/api/v1/accounts/:id/follow`` asks to join exactly like ``POST /api/v1/groups/:id/join``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from federation.models import Actor
from groups import directory, services
from groups.models import Group, Membership
from microblog.api import account_serializers, errors, pagination
from microblog.api.auth import api_view


def _iso(dt: Any) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z") if dt else None


def membership_json(m: Membership | None) -> dict[str, Any] | None:
    """The viewer-facing summary of a membership (None when there is none)."""
    if m is None:
        return None
    return {
        "state": m.state,
        "role": m.role,
        "officer": bool(services.roles().get(m.role, {}).get("officer")),
        "joined_at": _iso(m.joined_at),
        "real_name_verified": m.real_name_verified,
    }


def group_json(group: Group, *, viewer: Actor | None, member_count: int | None = None) -> dict[str, Any]:
    """A group as the API shows it to ``viewer``."""
    if member_count is None:
        member_count = getattr(group, "member_count", None)
    if member_count is None:
        member_count = services.active_members(group).count()
    return {
        "id": str(group.pk),
        "name": group.actor.username,
        "display_name": group.actor.name,
        "acct": group.actor.username,
        "url": group.actor.url,
        "kind": group.kind,
        "description": group.description,
        "members_only": group.members_only,
        "parent_id": str(group.parent_id) if group.parent_id else None,
        "member_count": member_count,
        "created_at": _iso(group.created_at),
        "account": account_serializers.account(group.actor, viewer=viewer),
        "membership": membership_json(services.membership_of(viewer, group)),
    }


def member_json(m: Membership, *, viewer: Actor | None) -> dict[str, Any]:
    """One membership row with the member's account."""
    return {"id": str(m.pk), "account": account_serializers.account(m.actor, viewer=viewer), **membership_json(m)}  # type: ignore[dict-item]


def _group(group_id: int) -> Group:
    return Group.objects.select_related("actor").get(pk=group_id, actor__local=True)


@api_view({"GET": None, "POST": "write"}, methods=("GET", "POST"))
def groups(request: HttpRequest) -> Any:
    """GET: the node's groups (``q`` searches). POST (node staff): create a group; the secretary
    is the caller unless ``secretary`` names another local member."""
    viewer = request.actor  # type: ignore[attr-defined]
    params = request.params  # type: ignore[attr-defined]
    if request.method == "GET":
        rows = directory.local_groups(str(params.get("q", "")))
        items, link = pagination.paginate(request, rows, field="id")
        return errors.json_response([group_json(g, viewer=viewer) for g in items], link=link or None)
    if not request.user.is_staff:
        raise errors.Forbidden("Only the node's operators can create groups")
    secretary = viewer
    if params.get("secretary"):
        secretary = Actor.objects.filter(local=True, username=str(params["secretary"]), user__isnull=False).first()
        if secretary is None:
            raise errors.ValidationFailed("secretary is not a member of this node")
    try:
        group = services.create_group(
            str(params.get("name", "")),
            display_name=str(params.get("display_name", "")),
            kind=str(params.get("kind", "branch")),
            secretary=secretary,
            description=str(params.get("description", "")),
            members_only=str(params.get("members_only", "true")).lower() not in ("false", "0"),
            parent=_group(int(params["parent_id"])) if params.get("parent_id") else None,
        )
    except services.GroupError as exc:
        raise errors.ValidationFailed(str(exc)) from exc
    return errors.json_response(group_json(group, viewer=viewer), status=201)


@api_view(None)
def group_detail(request: HttpRequest, group_id: int) -> Any:
    """One group (public fields plus the viewer's membership)."""
    return group_json(_group(group_id), viewer=request.actor)  # type: ignore[attr-defined]


@api_view(("write", "follow"), methods=("POST",))
def join(request: HttpRequest, group_id: int) -> Any:
    """Ask to join (pending until an officer approves; an invitation activates at once)."""
    group = _group(group_id)
    try:
        services.request_membership(request.actor, group)  # type: ignore[attr-defined]
    except services.GroupError as exc:
        raise errors.ValidationFailed(str(exc)) from exc
    return group_json(group, viewer=request.actor)  # type: ignore[attr-defined]


@api_view(("write", "follow"), methods=("POST",))
def leave(request: HttpRequest, group_id: int) -> Any:
    """Leave the group, withdraw a request or decline an invitation."""
    group = _group(group_id)
    try:
        services.leave(request.actor, group)  # type: ignore[attr-defined]
    except services.GroupError as exc:
        raise errors.ValidationFailed(str(exc)) from exc
    return group_json(group, viewer=request.actor)  # type: ignore[attr-defined]


@api_view("read")
def members(request: HttpRequest, group_id: int) -> HttpResponse:
    """Active members (members of the group only), paginated by membership id."""
    group = _group(group_id)
    viewer = request.actor  # type: ignore[attr-defined]
    if not services.is_member(viewer, group):
        raise errors.Forbidden("Only members can see the member list")
    items, link = pagination.paginate(request, services.active_members(group).order_by("-id"), field="id")
    return errors.json_response([member_json(m, viewer=viewer) for m in items], link=link or None)


@api_view("read")
def requests(request: HttpRequest, group_id: int) -> HttpResponse:
    """Pending join requests (officers who may approve)."""
    group = _group(group_id)
    viewer = request.actor  # type: ignore[attr-defined]
    if not services.has_perm(viewer, group, "approve"):
        raise errors.Forbidden("Only the group's officers can see join requests")
    items, link = pagination.paginate(request, services.pending_requests(group).order_by("-id"), field="id")
    return errors.json_response([member_json(m, viewer=viewer) for m in items], link=link or None)


@api_view("write", methods=("POST",))
def decide(request: HttpRequest, group_id: int, account_id: int, decision: str) -> Any:
    """Approve or reject the pending request of account ``account_id``."""
    if decision not in ("approve", "reject"):
        raise errors.NotFound()
    group = _group(group_id)
    viewer = request.actor  # type: ignore[attr-defined]
    if not services.has_perm(viewer, group, "approve"):
        raise errors.Forbidden("Only the group's officers can decide on requests")
    member = Actor.objects.get(pk=account_id)
    action = services.approve if decision == "approve" else services.reject
    try:
        membership = action(group, member, by=viewer)
    except services.GroupError as exc:
        raise errors.NotFound(str(exc)) from exc
    return member_json(membership, viewer=viewer)

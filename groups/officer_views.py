"""Officers' membership actions, in the client API and the HTML UI: give a member a role,
invite an account, remove a member, mark a member's real name as verified.

Every action goes through :mod:`groups.services`, which checks that the caller is an active
officer of *that* group whose role has the permission (``roles``, ``approve`` for invitations,
``remove``, ``verify``; ``settings.GROUPS_ROLES``). Officers of another group get 403, as do
members. API errors: 401 without a token, 403 not allowed, 404 unknown group or account,
422 invalid input (unknown role, not a member, ...), each with a message saying what to do.

API (``:id`` is the group id, ``:account_id`` the member's account id):

- ``POST /api/v1/groups/:id/members/:account_id/role`` (``role``);
- ``POST /api/v1/groups/:id/members/:account_id/remove``;
- ``POST /api/v1/groups/:id/members/:account_id/verify`` (``verified``, default true);
- ``POST /api/v1/groups/:id/invitations`` (``account_id`` or ``acct``: ``name`` or ``name@domain``);
- ``GET /api/v1/groups/:id/roles`` — the configured roles and their permissions.

HTML: POST forms under ``/g/<name>/members/<actor_pk>/<action>`` and ``/g/<name>/invite``
(CSRF-checked), shown on the group page to officers who may use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from federation.lookup import ActorNotFound, resolve_handle
from federation.models import Actor, ActorType
from groups import services
from groups.api import member_json
from groups.models import Group, Membership
from microblog.api import errors
from microblog.api.auth import api_view, param_bool, param_str

ACTIONS = ("role", "remove", "verify")
PERM_OF: dict[str, str] = {"role": "roles", "remove": "remove", "verify": "verify"}
API_DENIED: dict[str, str] = {
    "role": "Only officers of this group whose role may change roles (the secretary) can do this",
    "remove": "Only officers of this group who may remove members can do this",
    "verify": "Only officers of this group who may verify real names can do this",
}


def _local_group(group_id: int) -> Group:
    return Group.objects.select_related("actor").get(pk=group_id, actor__local=True)


def find_invitee(value: str) -> Actor:
    """The account named by ``value`` (a local name, ``name@domain`` or an actor URL), fetched
    from its node when unknown; raises ``ActorNotFound`` with a reason."""
    value = value.strip().lstrip("@")
    if not value:
        raise ActorNotFound("name the account to invite (name or name@domain)")
    if "@" not in value and not value.startswith(("http://", "https://")):
        actor = Actor.objects.filter(local=True, username=value.lower(), user__isnull=False).first()
        if actor is None:
            raise ActorNotFound(f"there is no member called {value!r} on this node")
        return actor
    actor = resolve_handle(value)
    if actor.type == ActorType.GROUP or actor.suspended:
        raise ActorNotFound(f"{value} is not an account that can be invited")
    return actor


def perform(group: Group, officer: Actor | None, member: Actor, action: str, params: Any) -> Membership:
    """Run officer ``action`` (``role``/``remove``/``verify``) on ``member``; raises
    ``PermissionDenied`` or ``services.GroupError`` (with a message for the officer)."""
    if action == "role":
        role = str(params.get("role", "") or "").strip()
        if not role:
            raise services.GroupError(f"choose a role (one of: {', '.join(services.roles())})")
        return services.set_role(group, member, role, by=officer)
    if action == "remove":
        return services.remove(group, member, by=officer)
    verified = param_bool(params.get("verified"), True)
    return services.verify_real_name(group, member, by=officer, verified=verified)


# ---------------------------------------------------------------- client API


@api_view("write", methods=("POST",))
def api_member_action(request: HttpRequest, group_id: int, account_id: int, action: str) -> Any:
    """An officer's action on one member (see the module docstring)."""
    if action not in ACTIONS:
        raise errors.NotFound()
    group = _local_group(group_id)
    officer = request.actor  # type: ignore[attr-defined]
    if not services.has_perm(officer, group, PERM_OF[action]):
        raise errors.Forbidden(API_DENIED[action])
    member = Actor.objects.get(pk=account_id)
    try:
        membership = perform(group, officer, member, action, request.params)  # type: ignore[attr-defined]
    except PermissionDenied as exc:
        raise errors.Forbidden(str(exc)) from exc
    except services.GroupError as exc:
        raise errors.ValidationFailed(str(exc)) from exc
    return member_json(membership, viewer=officer)


@api_view("write", methods=("POST",))
def api_invite(request: HttpRequest, group_id: int) -> Any:
    """An officer invites an account (``account_id`` or ``acct``); 201 with the invitation."""
    group = _local_group(group_id)
    officer = request.actor  # type: ignore[attr-defined]
    params = request.params  # type: ignore[attr-defined]
    if not services.has_perm(officer, group, "approve"):
        raise errors.Forbidden("Only officers of this group who may approve members can invite")
    try:
        if params.get("account_id"):
            invitee = Actor.objects.filter(pk=str(params["account_id"])).exclude(type=ActorType.GROUP).first()
            if invitee is None:
                raise ActorNotFound("no such account (account_id)")
        else:
            invitee = find_invitee(param_str(params.get("acct")))
        membership = services.invite(group, invitee, by=officer)
    except ActorNotFound as exc:
        raise errors.ApiError(str(exc), 404) from exc
    except services.GroupError as exc:
        raise errors.ValidationFailed(str(exc)) from exc
    return errors.json_response(member_json(membership, viewer=officer), status=201)


@api_view(None)
def api_roles(request: HttpRequest, group_id: int) -> Any:
    """The roles a member can hold (highest first), with whether they are officers and their
    permissions."""
    _local_group(group_id)
    return [
        {"name": name, "officer": bool(spec.get("officer")), "permissions": list(spec.get("perms", []))}
        for name, spec in services.roles().items()
    ]


# ---------------------------------------------------------------- HTML forms


def _html_group(name: str) -> Group:
    group = Group.objects.select_related("actor").filter(actor__username=name, actor__local=True).first()
    if group is None:
        raise Http404
    return group


def _officer_of(request: HttpRequest, group: Group, perm: str) -> Actor:
    officer = Actor.objects.filter(user=request.user, local=True).first()
    if officer is None or not services.has_perm(officer, group, perm):
        raise PermissionDenied
    return officer


DONE: dict[str, Callable[[], str]] = {
    "role": lambda: _("The role has been changed."),
    "remove": lambda: _("The member has been removed."),
    "verify": lambda: _("The real-name verification has been recorded."),
}


@login_required
@require_POST
def member_action(request: HttpRequest, name: str, actor_pk: int, action: str) -> HttpResponse:
    """An officer's form on the group page: change a role, remove, verify (403 for others)."""
    if action not in ACTIONS:
        raise Http404
    group = _html_group(name)
    officer = _officer_of(request, group, PERM_OF[action])
    member = Actor.objects.filter(pk=actor_pk).first()
    if member is None:
        raise Http404
    try:
        perform(group, officer, member, action, request.POST)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except services.GroupError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, DONE[action]())
    return HttpResponseRedirect(reverse("group_page", args=[name]) + "#members")


@login_required
@require_POST
def invite(request: HttpRequest, name: str) -> HttpResponse:
    """An officer invites ``handle`` (a local name or name@domain) from the group page."""
    group = _html_group(name)
    officer = _officer_of(request, group, "approve")
    try:
        invitee = find_invitee(request.POST.get("handle", "")[:300])
        services.invite(group, invitee, by=officer)
    except (ActorNotFound, services.GroupError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The invitation has been sent."))
    return HttpResponseRedirect(reverse("group_page", args=[name]) + "#members")


urlpatterns = [
    path("g/<str:name>/members/<int:actor_pk>/<str:action>", member_action, name="group_member_action"),
    path("g/<str:name>/invite", invite, name="group_invite"),
    path(
        "api/v1/groups/<int:group_id>/members/<int:account_id>/<str:action>",
        api_member_action,
        name="api-group-member-action",
    ),
    path("api/v1/groups/<int:group_id>/invitations", api_invite, name="api-group-invite"),
    path("api/v1/groups/<int:group_id>/roles", api_roles, name="api-group-roles"),
]

"""HTML pages of groups (directory, group page, join/leave, officers' approvals) and the
moderators collection (AS2). Mobile-first templates extending ``node/base.html``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from federation.models import Actor, ActorType
from groups import directory, services
from groups.activitypub import moderators_collection
from groups.models import Group


def viewer_actor(request: HttpRequest) -> Actor | None:
    """The signed-in member's actor, or None."""
    user = request.user
    if not user.is_authenticated:
        return None
    return Actor.objects.filter(user=user, local=True).first()


def _group_or_404(name: str) -> Group:
    try:
        return directory.get_local_group(name)
    except Group.DoesNotExist as exc:
        raise Http404 from exc


@require_GET
def directory_view(request: HttpRequest) -> HttpResponse:
    """All groups of this node, searchable, and a form to find a group on another node."""
    query = request.GET.get("q", "")[:100]
    groups = list(directory.local_groups(query)[:200])
    return render(request, "groups/directory.html", {"groups": groups, "query": query})


@login_required
@require_http_methods(["GET", "POST"])
def find_remote(request: HttpRequest) -> HttpResponse:
    """Find a group by ``group@domain`` (GET) and ask to join it (POST)."""
    member = viewer_actor(request)
    handle = (request.POST.get("handle") or request.GET.get("handle") or "").strip()[:300]
    found: Actor | None = None
    error = ""
    if handle:
        try:
            found = directory.find_group(handle)
        except directory.DirectoryError as exc:
            error = str(exc)
    if request.method == "POST" and found is not None and member is not None:
        if found.local:
            return HttpResponseRedirect(reverse("group_page", args=[found.username]))
        directory.ask_to_join(member, found)
        messages.success(request, _("Your request to join has been sent."))
        return HttpResponseRedirect(reverse("groups_find") + f"?handle={found.handle}")
    following = None
    if found is not None and member is not None:
        following = found.followers_rel.filter(follower=member).first()
    return render(
        request,
        "groups/find.html",
        {"handle": handle, "found": found, "error": error, "following": following},
        status=404 if handle and found is None else 200,
    )


@require_GET
def group_page(request: HttpRequest, name: str) -> HttpResponse:
    """About, officers and member count for everyone; the member list for members; pending
    requests with approve/reject forms and an invitation form for officers who may approve;
    role, removal and real-name forms for officers whose role allows them."""
    group = _group_or_404(name)
    viewer = viewer_actor(request)
    membership = services.membership_of(viewer, group)
    is_member = bool(membership and membership.active)
    can_approve = services.has_perm(viewer, group, "approve")
    context = {
        "group": group,
        "membership": membership,
        "is_member": is_member,
        "can_approve": can_approve,
        "officers": services.officers(group),
        "member_count": services.active_members(group).count(),
        "members": list(services.active_members(group)) if is_member else None,
        "requests": list(services.pending_requests(group)) if can_approve else None,
        "children": list(group.children.select_related("actor")),
        "can_roles": services.has_perm(viewer, group, "roles"),
        "can_remove": services.has_perm(viewer, group, "remove"),
        "can_verify": services.has_perm(viewer, group, "verify"),
        "roles": list(services.roles()),
    }
    return render(request, "groups/group.html", context)


@login_required
@require_POST
def join(request: HttpRequest, name: str) -> HttpResponse:
    """The signed-in member asks to join (or accepts an invitation)."""
    group = _group_or_404(name)
    member = viewer_actor(request)
    if member is None:
        raise PermissionDenied
    try:
        membership = services.request_membership(member, group)
    except services.GroupError as exc:
        messages.error(request, str(exc))
    else:
        if membership.active:
            messages.success(request, _("You are a member of this group."))
        else:
            messages.success(request, _("Your request to join is waiting for an officer."))
    return HttpResponseRedirect(reverse("group_page", args=[name]))


@login_required
@require_POST
def leave(request: HttpRequest, name: str) -> HttpResponse:
    """The signed-in member leaves the group (or withdraws a request)."""
    group = _group_or_404(name)
    member = viewer_actor(request)
    try:
        services.leave(member, group)  # type: ignore[arg-type]
    except services.GroupError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("You have left the group."))
    return HttpResponseRedirect(reverse("group_page", args=[name]))


@login_required
@require_POST
def decide(request: HttpRequest, name: str, actor_pk: int, decision: str) -> HttpResponse:
    """An officer approves or rejects a pending request (403 for anyone else)."""
    if decision not in ("approve", "reject"):
        raise Http404
    group = _group_or_404(name)
    officer = viewer_actor(request)
    if officer is None or not services.has_perm(officer, group, "approve"):
        raise PermissionDenied
    member = get_object_or_404(Actor, pk=actor_pk)
    action = services.approve if decision == "approve" else services.reject
    try:
        action(group, member, by=officer)
    except services.GroupError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Request approved.") if decision == "approve" else _("Request rejected."))
    return HttpResponseRedirect(reverse("group_page", args=[name]))


@require_GET
def moderators_view(request: HttpRequest, actor_pk: int) -> HttpResponse:
    """The officers of a local group as an AS2 collection (Lemmy's moderators)."""
    from federation.views import activity_json

    group = (
        Group.objects.select_related("actor")
        .filter(actor__pk=actor_pk, actor__local=True, actor__type=ActorType.GROUP)
        .first()
    )
    if group is None:
        raise Http404
    return activity_json(moderators_collection(group))

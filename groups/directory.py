"""The group directory: local groups (listed and searched) and remote groups found by handle."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from federation import follows
from federation.lookup import ActorNotFound, resolve_handle
from federation.models import Actor, ActorType, Follow
from groups.models import Group, MembershipState


class DirectoryError(ValueError):
    """A handle that is not a reachable group."""


def local_groups(query: str = "") -> QuerySet[Group]:
    """Local, non-suspended groups matching ``query`` (name, display name or description; case
    insensitive), with ``member_count`` annotated, by name."""
    rows = Group.objects.select_related("actor", "parent__actor").filter(actor__suspended=False)
    query = query.strip().lstrip("@")
    if query:
        rows = rows.filter(
            Q(actor__username__icontains=query) | Q(actor__name__icontains=query) | Q(description__icontains=query)
        )
    return rows.annotate(
        member_count=Count("memberships", filter=Q(memberships__state=MembershipState.ACTIVE))
    ).order_by("actor__username")


def get_local_group(name: str) -> Group:
    """The local group called ``name`` (``Group.DoesNotExist`` otherwise)."""
    return Group.objects.select_related("actor").get(actor__username=name, actor__local=True)


def find_group(handle: str) -> Actor:
    """The group actor for ``group@domain`` (local or fetched from its node); raises
    :class:`DirectoryError` when nothing answers or the account is not a group."""
    try:
        actor = resolve_handle(handle)
    except ActorNotFound as exc:
        raise DirectoryError(str(exc) or _("no such group")) from exc
    if actor.type != ActorType.GROUP:
        raise DirectoryError(_("%(handle)s is not a group") % {"handle": handle})
    return actor


def ask_to_join(member: Actor, group_actor: Actor) -> Follow:
    """``member`` (local) asks to join a group on any node: a ``Follow`` of the group actor,
    pending until the group's officers answer. Local groups mirror it into a membership."""
    if group_actor.type != ActorType.GROUP:
        raise DirectoryError(_("not a group"))
    return follows.follow(member, group_actor)

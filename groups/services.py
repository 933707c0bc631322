"""Group services: creation, membership (request, approve, reject, invite, leave, remove), roles,
real-name verification and permission checks. The only write path for groups' core rows.

A membership mirrors a ``Follow`` of the group actor: asking to join is a pending follow
(``federation.follows``), approval is ``Accept``, rejection/removal is ``Reject``, leaving is
``Undo{Follow}``. ``federation`` tells us of every follow change through
``registry.register_follow_observer`` (see :func:`on_follow_event`), so local members, remote
members and Mastodon apps (``/api/v1/accounts/:id/follow``) all take the same path.
Functions taking a ``group`` accept the ``Group`` row or its ``Actor``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from federation import follows
from federation.actors import NameTaken, create_local_actor
from federation.models import Actor, ActorType, Follow, FollowState
from groups.models import Group, Membership, MembershipState


class GroupError(ValueError):
    """An invalid group action (name taken, unknown kind or role, not a member, ...)."""


def roles() -> dict[str, dict[str, Any]]:
    """The configured roles (``settings.GROUPS_ROLES``), highest first."""
    return dict(getattr(settings, "GROUPS_ROLES", {"member": {"officer": False, "perms": ["post"]}}))


def officer_roles() -> list[str]:
    """Role names whose holders are officers (moderators collection, ``attributedTo``)."""
    return [name for name, spec in roles().items() if spec.get("officer")]


def as_group(group: Group | Actor) -> Group:
    """The ``Group`` row of a group or of its actor; ``Group.DoesNotExist`` for other actors."""
    if isinstance(group, Group):
        return group
    return Group.objects.select_related("actor").get(actor=group)


def _record(membership: Membership, event: str, **extra: Any) -> None:
    entry = {"event": event, "at": timezone.now().isoformat(), **extra}
    membership.history = [*membership.history, entry]


def _set_state(membership: Membership, state: str, event: str, **extra: Any) -> Membership:
    membership.state = state
    membership.state_changed_at = timezone.now()
    if state == MembershipState.ACTIVE and membership.joined_at is None:
        membership.joined_at = membership.state_changed_at
    _record(membership, event, **extra)
    membership.save()
    return membership


# ---------------------------------------------------------------- creation and queries


def create_group(
    name: str,
    *,
    display_name: str,
    kind: str,
    secretary: Actor,
    parent: Group | None = None,
    description: str = "",
    members_only: bool = True,
) -> Group:
    """Create a local group (a locked ``Group`` actor) with ``secretary`` as its first, active
    member in the ``secretary`` role. Raises :class:`GroupError` when the name is taken by a
    member, a group or the node, when the kind is not configured, or the parent is not local."""
    kinds = list(getattr(settings, "GROUPS_KINDS", ["branch"]))
    if kind not in kinds:
        raise GroupError(
            _("unknown group kind %(kind)s (one of: %(kinds)s)") % {"kind": repr(kind), "kinds": ", ".join(kinds)}
        )
    if not secretary.local:
        raise GroupError(_("the secretary must be a member of this node"))
    if parent is not None and not parent.actor.local:
        raise GroupError(_("the parent group must be on this node"))
    top_role = next(iter(roles()))
    with transaction.atomic():
        try:
            actor = create_local_actor(
                username=name,
                type=ActorType.GROUP,
                name=display_name or name,
                summary=description,
                manually_approves_followers=True,
            )
        except NameTaken as exc:
            raise GroupError(
                _("the name %(name)s is already used on this node or is not a valid name") % {"name": repr(name)}
            ) from exc
        group = Group.objects.create(
            actor=actor, kind=kind, parent=parent, description=description, members_only=members_only
        )
        Follow.objects.create(
            follower=secretary, target=actor, ap_id=follows.new_activity_id(), state=FollowState.ACCEPTED
        )
        membership = Membership(group=group, actor=secretary, role=top_role)
        _set_state(membership, MembershipState.ACTIVE, "founded", role=top_role)
    return group


def membership_of(actor: Actor | None, group: Group | Actor) -> Membership | None:
    """``actor``'s membership row in ``group`` in any state, or None."""
    if actor is None:
        return None
    try:
        group = as_group(group)
    except Group.DoesNotExist:
        return None
    return Membership.objects.filter(group=group, actor=actor).first()


def is_member(actor: Actor | None, group: Group | Actor) -> bool:
    """True when ``actor`` is an active member of ``group`` (local or remote)."""
    membership = membership_of(actor, group)
    return membership is not None and membership.state == MembershipState.ACTIVE


def is_officer(actor: Actor | None, group: Group | Actor) -> bool:
    """True when ``actor`` is an active member holding an officer role."""
    membership = membership_of(actor, group)
    return bool(membership and membership.active and roles().get(membership.role, {}).get("officer"))


def has_perm(actor: Actor | None, group: Group | Actor, perm: str) -> bool:
    """True when ``actor`` is an active member of ``group`` whose role grants ``perm``
    (``settings.GROUPS_ROLES``). Roles in one group give nothing in another."""
    membership = membership_of(actor, group)
    if membership is None or not membership.active:
        return False
    return perm in roles().get(membership.role, {}).get("perms", [])


def require_perm(actor: Actor | None, group: Group | Actor, perm: str) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may ``perm`` in ``group``; ``actor=None``
    means the node operator (CLI, admin), who may do anything."""
    if actor is not None and not has_perm(actor, group, perm):
        raise PermissionDenied(f"not allowed to {perm} in this group")


def active_members(group: Group | Actor):
    """Active memberships of ``group`` (with their actors), officers first then by join date."""
    group = as_group(group)
    return (
        Membership.objects.filter(group=group, state=MembershipState.ACTIVE)
        .select_related("actor")
        .order_by("joined_at", "pk")
    )


def pending_requests(group: Group | Actor):
    """Memberships waiting for an officer's decision, oldest first."""
    group = as_group(group)
    return Membership.objects.filter(group=group, state=MembershipState.PENDING).select_related("actor").order_by("pk")


def officers(group: Group | Actor) -> list[Membership]:
    """Active officer memberships, in role order (secretary first)."""
    order = {name: i for i, name in enumerate(roles())}
    rows = [m for m in active_members(group) if m.role in officer_roles()]
    return sorted(rows, key=lambda m: (order.get(m.role, 99), m.joined_at or m.created_at))


# ---------------------------------------------------------------- membership


def _follow_row(group: Group, member: Actor) -> Follow | None:
    return Follow.objects.filter(follower=member, target=group.actor).first()


def _via_join(membership: Membership) -> bool:
    """True when the pending request came as a Mobilizon/Smithereen ``Join`` (answered in kind)."""
    requests = [h for h in membership.history if h.get("event") == "requested"]
    return bool(requests) and requests[-1].get("via") == "Join"


def _by(by: Actor | None) -> str:
    return by.ap_id if by is not None else "operator"


def request_membership(actor: Actor, group: Group | Actor) -> Membership:
    """A local ``actor`` asks to join a local ``group``: a pending ``Follow`` and a pending
    membership (an officer decides). Accepting an invitation activates at once; asking again
    while pending or active changes nothing. Remote members ask from their own node."""
    group = as_group(group)
    if not actor.local:
        raise GroupError(_("members of other nodes ask to join from their own node"))
    if actor.pk == group.actor_id:
        raise GroupError(_("a group cannot join itself"))
    with transaction.atomic():
        membership = membership_of(actor, group)
        if membership is not None and membership.state == MembershipState.ACTIVE:
            return membership
        follows.follow(actor, group.actor)  # fires "requested" → on_follow_event
    return membership_of(actor, group)  # type: ignore[return-value]


def approve(group: Group | Actor, member: Actor, *, by: Actor | None) -> Membership:
    """An officer (``by``; ``None`` = the node operator) approves a pending request: the member
    becomes active and its node gets ``Accept`` (of its ``Follow`` or ``Join``)."""
    group = as_group(group)
    require_perm(by, group, "approve")
    with transaction.atomic():
        membership = membership_of(member, group)
        if membership is None or membership.state != MembershipState.PENDING:
            raise GroupError(_("there is no pending request from this account"))
        _set_state(membership, MembershipState.ACTIVE, "approved", by=_by(by))
        row = _follow_row(group, member)
        if _via_join(membership):
            from groups.inbound import respond_join

            if row is not None and row.state != FollowState.ACCEPTED:
                row.state, row.state_changed_at = FollowState.ACCEPTED, timezone.now()
                row.save(update_fields=["state", "state_changed_at"])
            respond_join(group, membership, "Accept")
        elif row is not None:
            follows.accept_follow(row)
        else:
            Follow.objects.create(follower=member, target=group.actor, state=FollowState.ACCEPTED)
    return membership


def reject(group: Group | Actor, member: Actor, *, by: Actor | None) -> Membership:
    """An officer rejects a pending request: the membership is marked rejected and the member's
    node gets ``Reject``; the follow is dropped."""
    group = as_group(group)
    require_perm(by, group, "approve")
    with transaction.atomic():
        membership = membership_of(member, group)
        if membership is None or membership.state != MembershipState.PENDING:
            raise GroupError(_("there is no pending request from this account"))
        _set_state(membership, MembershipState.REJECTED, "rejected", by=_by(by))
        _drop_follow(group, membership)
    return membership


def _drop_follow(group: Group, membership: Membership) -> None:
    """Tell the member's node it is no longer in the group (``Reject``) and drop the follow."""
    row = _follow_row(group, membership.actor)
    if _via_join(membership):
        from groups.inbound import respond_join

        respond_join(group, membership, "Reject")
        if row is not None:
            row.delete()
    elif row is not None:
        follows.reject_follow(row)


def _rank(role: str) -> int:
    return list(roles()).index(role) if role in roles() else len(roles())


def remove(group: Group | Actor, member: Actor, *, by: Actor | None) -> Membership:
    """An officer removes an active member (who gets ``Reject`` of its follow, as Lemmy and
    Mastodon understand removal). Officers cannot remove someone of a higher role."""
    group = as_group(group)
    require_perm(by, group, "remove")
    with transaction.atomic():
        membership = membership_of(member, group)
        if membership is None or membership.state != MembershipState.ACTIVE:
            raise GroupError(_("this account is not an active member"))
        if by is not None:
            mine = membership_of(by, group)
            if mine is not None and _rank(membership.role) < _rank(mine.role):
                raise PermissionDenied("cannot remove an officer of a higher role")
        was_officer = roles().get(membership.role, {}).get("officer", False)
        _set_state(membership, MembershipState.REMOVED, "removed", by=_by(by))
        _drop_follow(group, membership)
        if was_officer:
            _federate_role_change(group, member, "Remove")
    return membership


def leave(member: Actor, group: Group | Actor) -> Membership:
    """A local member leaves (or withdraws a request / declines an invitation); the follow is
    undone. The last holder of the top role cannot leave (name another first)."""
    group = as_group(group)
    with transaction.atomic():
        membership = membership_of(member, group)
        live = (MembershipState.ACTIVE, MembershipState.PENDING, MembershipState.INVITED)
        if membership is None or membership.state not in live:
            raise GroupError(_("not a member of this group"))
        top = next(iter(roles()))
        if membership.active and membership.role == top:
            others = active_members(group).filter(role=top).exclude(pk=membership.pk)
            if not others.exists():
                raise GroupError(_("the last secretary cannot leave; appoint another first"))
        _set_state(membership, MembershipState.LEFT, "left")
        if member.local:
            follows.unfollow(member, group.actor)
        else:
            Follow.objects.filter(follower=member, target=group.actor).delete()
    return membership


def invite(group: Group | Actor, invitee: Actor, *, by: Actor | None) -> Membership:
    """An officer invites ``invitee``; the membership waits as ``invited`` until the invitee
    asks to join (``Follow``/``Join``/``Accept{Invite}``), which then activates at once.
    A remote invitee's node gets an ``Invite`` (Smithereen's shape)."""
    group = as_group(group)
    require_perm(by, group, "approve")
    with transaction.atomic():
        membership, _created = Membership.objects.get_or_create(group=group, actor=invitee)
        if membership.state == MembershipState.ACTIVE:
            raise GroupError(_("already a member"))
        _set_state(membership, MembershipState.INVITED, "invited", by=_by(by))
        if not invitee.local:
            from groups.inbound import send_invite

            send_invite(group, invitee, by=by)
    return membership


def set_role(group: Group | Actor, member: Actor, role: str, *, by: Actor | None) -> Membership:
    """Give an active member ``role``; becoming or ceasing to be an officer federates as
    ``Add``/``Remove`` targeting the moderators collection. The last top-role holder keeps it."""
    group = as_group(group)
    require_perm(by, group, "roles")
    if role not in roles():
        raise GroupError(
            _("unknown role %(role)s (one of: %(roles)s)") % {"role": repr(role), "roles": ", ".join(roles())}
        )
    with transaction.atomic():
        membership = membership_of(member, group)
        if membership is None or not membership.active:
            raise GroupError(_("this account is not an active member"))
        top = next(iter(roles()))
        if membership.role == top and role != top:
            if not active_members(group).filter(role=top).exclude(pk=membership.pk).exists():
                raise GroupError(_("the group needs a secretary; appoint another first"))
        before = roles().get(membership.role, {}).get("officer", False)
        membership.role = role
        _record(membership, "role", role=role, by=_by(by))
        membership.save(update_fields=["role", "history"])
        after = roles()[role].get("officer", False)
        if before != after:
            _federate_role_change(group, member, "Add" if after else "Remove")
    return membership


def verify_real_name(group: Group | Actor, member: Actor, *, by: Actor | None, verified: bool = True) -> Membership:
    """An officer with ``verify`` marks (or unmarks) a member's real name as checked."""
    group = as_group(group)
    require_perm(by, group, "verify")
    membership = membership_of(member, group)
    if membership is None or not membership.active:
        raise GroupError(_("this account is not an active member"))
    membership.real_name_verified = verified
    membership.verified_by = by if verified else None
    _record(membership, "verified" if verified else "unverified", by=_by(by))
    membership.save(update_fields=["real_name_verified", "verified_by", "history"])
    return membership


def _federate_role_change(group: Group, member: Actor, kind: str) -> None:
    from federation.outbox import inboxes_for_followers, publish
    from groups.activitypub import moderators_change

    activity = moderators_change(group, member, kind)
    publish(activity, actor=group.actor, inboxes=inboxes_for_followers(group.actor), object_ap_id=member.ap_id)


# ---------------------------------------------------------------- follow mirror


def on_follow_event(event: str, follow: Follow) -> None:
    """Mirror a follow of a local group into its membership (``registry.register_follow_observer``):
    requested → pending (or active when invited), accepted → active, rejected → rejected/removed,
    undone → left. Idempotent: our own approve/reject/leave already set the state."""
    target = follow.target
    if not target.local or target.type != ActorType.GROUP:
        return
    group = Group.objects.filter(actor=target).first()
    if group is None:
        return
    membership, created = Membership.objects.get_or_create(group=group, actor=follow.follower)
    state = "" if created else membership.state
    if event == "requested":
        if state == MembershipState.INVITED or state == MembershipState.ACTIVE:
            # An invited member asking to join accepts the invitation; an active member's repeated
            # Follow (its node lost our Accept) is answered again.
            if state == MembershipState.INVITED:
                _set_state(membership, MembershipState.ACTIVE, "accepted_invite")
            follows.accept_follow(follow)
        elif state != MembershipState.PENDING:
            membership.request_ap_id = follow.ap_id
            _set_state(membership, MembershipState.PENDING, "requested", via="Follow")
    elif event == "accepted" and state != MembershipState.ACTIVE:
        membership.request_ap_id = membership.request_ap_id or follow.ap_id
        _set_state(membership, MembershipState.ACTIVE, "approved")
    elif event == "rejected" and state in (MembershipState.PENDING, MembershipState.ACTIVE):
        new = MembershipState.REJECTED if state == MembershipState.PENDING else MembershipState.REMOVED
        _set_state(membership, new, str(new))
    elif event == "undone" and state in (MembershipState.ACTIVE, MembershipState.PENDING, MembershipState.INVITED):
        _set_state(membership, MembershipState.LEFT, "left")

"""Inbound membership activities for local groups beyond ``Follow`` (which federation handles and
mirrors to us through the follow observer): Mobilizon/Smithereen ``Join`` and ``Leave`` of a group,
and ``Accept{Invite}`` from an invited remote member. Plus the outgoing answers they need.

``federation.inbound.object_type_of`` reports a bare id of a known actor as ``"Person"``, so a
``Join`` of our group arrives keyed ("Join", "Person"); an embedded object keys ("Join", "Group").
``Join`` of an event is not ours (events register their own key).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from federation.inbound import Reject
from federation.models import Actor, ActorType, Follow, FollowState
from federation.outbox import publish
from federation.registry import register_handler
from federation.vocab import AS_CONTEXT, id_of
from groups.activitypub import join_response
from groups.models import Group, Membership, MembershipState


def _local_group(ap_id: str | None) -> Group:
    group = (
        Group.objects.select_related("actor").filter(actor__ap_id=ap_id, actor__local=True).first() if ap_id else None
    )
    if group is None:
        raise Reject(f"{ap_id!r} is not a group on this node")
    return group


def respond_join(group: Group, membership: Membership, kind: str) -> None:
    """Send ``Accept``/``Reject`` of the member's ``Join`` (nothing for local members)."""
    member = membership.actor
    if member.local:
        return
    activity = join_response(group, member, membership.request_ap_id, kind)
    publish(activity, actor=group.actor, inboxes=[member.delivery_inbox], object_ap_id=membership.request_ap_id)


def send_invite(group: Group, invitee: Actor, *, by: Actor | None) -> None:
    """Send a remote invitee an ``Invite`` to the group (Smithereen: object = group, target = invitee)."""
    from federation.follows import new_activity_id

    activity = {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": "Invite",
        "actor": group.actor.ap_id,
        "object": group.actor.ap_id,
        "target": invitee.ap_id,
        "to": [invitee.ap_id],
    }
    if by is not None:
        activity["attributedTo"] = by.ap_id
    publish(activity, actor=group.actor, inboxes=[invitee.delivery_inbox], object_ap_id=invitee.ap_id)


@register_handler("Join", "Person")
@register_handler("Join", "Group")
def handle_join(activity: dict[str, Any], actor: Actor) -> None:
    """A remote actor asks to join a local group by ``Join`` (Mobilizon, Smithereen): pending until
    an officer answers ``Accept``/``Reject``; an invited actor is admitted at once."""
    from groups.services import _set_state

    group = _local_group(id_of(activity.get("object")))
    if actor.type == ActorType.GROUP:
        raise Reject("a group cannot join a group")
    join_id = str(activity.get("id") or "")
    membership, created = Membership.objects.get_or_create(group=group, actor=actor)
    state = "" if created else membership.state
    row, _ = Follow.objects.get_or_create(
        follower=actor, target=group.actor, defaults={"ap_id": join_id, "state": FollowState.PENDING}
    )
    if state in (MembershipState.ACTIVE, MembershipState.INVITED):
        if state == MembershipState.INVITED:
            membership.request_ap_id = join_id
            _set_state(membership, MembershipState.ACTIVE, "accepted_invite", via="Join")
        row.state, row.state_changed_at = FollowState.ACCEPTED, timezone.now()
        row.save(update_fields=["state", "state_changed_at"])
        respond_join(group, membership, "Accept")  # repeated Join: the sender may have lost our answer
        return
    if state != MembershipState.PENDING or membership.request_ap_id != join_id:
        membership.request_ap_id = join_id
        _set_state(membership, MembershipState.PENDING, "requested", via="Join")


@register_handler("Leave", "Person")
@register_handler("Leave", "Group")
def handle_leave(activity: dict[str, Any], actor: Actor) -> None:
    """A remote member leaves a local group (or withdraws its request) by ``Leave``."""
    from groups.services import _set_state

    group = _local_group(id_of(activity.get("object")))
    membership = Membership.objects.filter(group=group, actor=actor).first()
    live = (MembershipState.ACTIVE, MembershipState.PENDING, MembershipState.INVITED)
    if membership is None or membership.state not in live:
        return  # nothing to leave: idempotent
    _set_state(membership, MembershipState.LEFT, "left", via="Leave")
    Follow.objects.filter(follower=actor, target=group.actor).delete()


@register_handler("Accept", "Invite")
def handle_accept_invite(activity: dict[str, Any], actor: Actor) -> None:
    """A remote invitee accepts a local group's ``Invite``: it becomes an active member."""
    from federation.models import OutboxActivity
    from groups.services import _set_state

    invite = OutboxActivity.objects.filter(ap_id=id_of(activity.get("object")), type="Invite").first()
    if invite is None or id_of(invite.body.get("target")) != actor.ap_id:
        raise Reject("no such invitation for this actor")
    group = _local_group(invite.actor.ap_id)
    membership = Membership.objects.filter(group=group, actor=actor, state=MembershipState.INVITED).first()
    if membership is None:
        return
    _set_state(membership, MembershipState.ACTIVE, "accepted_invite", via="Accept")
    Follow.objects.update_or_create(
        follower=actor,
        target=group.actor,
        defaults={"state": FollowState.ACCEPTED, "ap_id": str(activity.get("id") or "")},
    )

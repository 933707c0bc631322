"""Transfers of a member from group X to group Y, on one node or across nodes (issue 5, item 8).

State machine (``TransferState``), the same row shape on each node that takes part:

    requested --X officer approves--> offered --Y officer accepts--> accepted
        |  \\--X officer declines--> declined      \\--Y officer rejects--> rejected
        \\--member/X officer cancels--> cancelled

Wire: when X approves and Y is remote, X sends Y ``Offer{actor: X, target: Y, object:
redcloud:MembershipRecord}`` (see :func:`offer_to_ap`); Y answers ``Accept`` or ``Reject`` whose
object is that Offer (embedded, or its bare id). Only Y's group actor may answer; an answer from
anyone else is refused (``federation.inbound.Reject``) and changes nothing.

Consistency ("never a member of both, never of neither" from the member's point of view):
- X keeps the member ``active`` until Y's ``Accept`` arrives; Y activates the member in the same
  transaction that stores its ``Accept`` in the outbox (``federation.outbox.publish`` runs in the
  caller's transaction), and X marks them ``transferred_out`` in the same transaction in which it
  processes that ``Accept``. So the member is always active in at least one of X and Y ("never of
  neither"), and the outbox's durable, retried delivery guarantees X learns of the Accept.
- Y's commit of the Accept is the single decision point: once ``offered`` neither side can
  withdraw (X may not cancel an offered transfer, so a late cancel cannot race an Accept into
  "member of both" for good; a Reject after an Accept, or an Accept after a Reject, is refused).
  The only overlap is the delivery window between Y's commit and X's processing, during which
  the member's status on both nodes shows ``accepted``/``offered`` and X's record is superseded.
- On one node both groups change in one database transaction, so there is no window at all.
Inbound handlers are idempotent (a replayed Offer or Accept changes nothing).

The record and the Offer as AS2 are in ``groups/transfers_ap.py``; the inbound handlers in
``groups/transfers_inbound.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from federation import follows
from federation.lookup import resolve_handle
from federation.models import Actor, ActorType, Follow, FollowState
from federation.outbox import publish
from federation.resolve import get_or_fetch_actor
from federation.vocab import CONTEXT
from groups.models import Group, Membership, MembershipState, Transfer, TransferState
from groups.records import clean_text
from groups.services import as_group, has_perm, is_member, membership_of
from groups.transfers_ap import membership_record, offer_to_ap

OPEN = (TransferState.REQUESTED, TransferState.OFFERED)


class TransferError(ValueError):
    """A transfer that cannot be made (not a member, same group, already open, wrong state...)."""


def _group_actor(value: Group | Actor | str) -> Actor:
    """The group actor for a Group row, an Actor, a ``group@domain`` handle or an actor id."""
    if isinstance(value, Group):
        return value.actor
    if isinstance(value, Actor):
        actor = value
    else:
        text = value.strip().lstrip("@")
        try:
            actor = get_or_fetch_actor(text) if text.startswith(("https://", "http://")) else resolve_handle(text)
        except Exception as exc:  # unknown host, not found, refused by policy: one answer
            raise TransferError(_("cannot find the group %(group)s") % {"group": repr(value)}) from exc
    if actor.type != ActorType.GROUP:
        raise TransferError(_("the target is not a group"))
    if actor.local and not Group.objects.filter(actor=actor).exists():
        raise TransferError(_("the target is not a group"))
    return actor


def local_group_of(actor: Actor) -> Group | None:
    """The local Group of a group actor; None for a remote group."""
    return Group.objects.filter(actor=actor).first() if actor.local else None


def set_state(transfer: Transfer, state: str, **fields: Any) -> Transfer:
    """Move ``transfer`` to ``state`` now, setting ``fields`` too, and save it."""
    transfer.state = state
    transfer.state_changed_at = timezone.now()
    for name, value in fields.items():
        setattr(transfer, name, value)
    transfer.save()
    return transfer


# ---------------------------------------------------------------- source side (X)


def request_transfer(
    requester: Actor, member: Actor, source: Group | Actor, target: Group | Actor | str, *, reason: str = ""
) -> Transfer:
    """Open a transfer of ``member`` (an active member of local group ``source``) to ``target``
    (a local group, or a remote one by ``group@domain`` or actor id). The member may ask for
    themself; an officer of ``source`` with ``transfer`` may ask for any member. At most one
    open transfer per member and source group."""
    source = as_group(source)
    if not is_member(member, source):
        raise TransferError(_("only active members can be transferred"))
    if requester != member and not has_perm(requester, source, "transfer"):
        raise PermissionDenied("only the member or an officer may ask for a transfer")
    target_actor = _group_actor(target)
    if target_actor.pk == source.actor_id:
        raise TransferError(_("the member is already in this group"))
    with transaction.atomic():
        if Transfer.objects.filter(member=member, source=source.actor, state__in=OPEN).exists():
            raise TransferError(_("a transfer of this member is already under way"))
        return Transfer.objects.create(
            member=member,
            source=source.actor,
            target=target_actor,
            requested_by=requester,
            reason=clean_text(reason, 1000),
        )


def approve_transfer(officer: Actor, transfer: Transfer) -> Transfer:
    """X's officer (``transfer`` permission) approves: the record is frozen into the transfer
    and offered to Y (an ``Offer`` to a remote Y, queued in the same transaction). The member
    stays active in X until Y accepts."""
    source = local_group_of(transfer.source)
    if source is None or not has_perm(officer, source, "transfer"):
        raise PermissionDenied("only the source group's officers approve transfers")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if transfer.state != TransferState.REQUESTED:
            raise TransferError(_("the transfer is %(state)s") % {"state": transfer.state})
        membership = membership_of(transfer.member, source)
        if membership is None or not membership.active:
            raise TransferError(_("the member is no longer active in this group"))
        set_state(
            transfer,
            TransferState.OFFERED,
            approved_by=officer,
            record=membership_record(membership),
            offer_ap_id=follows.new_activity_id(),
        )
        if not transfer.target.local:
            publish(
                offer_to_ap(transfer),
                actor=transfer.source,
                inboxes=[transfer.target.inbox_url],  # the group's own inbox: never a shared one
                object_ap_id=transfer.offer_ap_id,
            )
    return transfer


def decline_transfer(officer: Actor, transfer: Transfer, *, reason: str = "") -> Transfer:
    """X's officer refuses a requested transfer; the member stays where they are."""
    source = local_group_of(transfer.source)
    if source is None or not has_perm(officer, source, "transfer"):
        raise PermissionDenied("only the source group's officers decline transfers")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if transfer.state != TransferState.REQUESTED:
            raise TransferError(_("the transfer is %(state)s") % {"state": transfer.state})
        return set_state(
            transfer, TransferState.DECLINED, decided_by=officer, reason=clean_text(reason, 1000) or transfer.reason
        )


def cancel_transfer(actor: Actor, transfer: Transfer) -> Transfer:
    """The member (or an X officer) withdraws a transfer not yet approved. Once offered, only Y
    decides: cancelling then could race Y's Accept into a double membership."""
    source = local_group_of(transfer.source)
    if actor != transfer.member and not (source and has_perm(actor, source, "transfer")):
        raise PermissionDenied("only the member or an officer may cancel")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)  # re-read: approval may have won
        if transfer.state != TransferState.REQUESTED:
            raise TransferError(_("only a transfer not yet approved can be cancelled"))
        return set_state(transfer, TransferState.CANCELLED, decided_by=actor)


def mark_transferred_out(source: Group, transfer: Transfer) -> None:
    """X's side of a completed transfer: the membership ends as ``transferred_out`` and the
    member's follow of X is dropped (a remote member's node is told with ``Reject``)."""
    membership = membership_of(transfer.member, source)
    if membership is not None and membership.state == MembershipState.ACTIVE:
        now = timezone.now()
        membership.state, membership.state_changed_at = MembershipState.TRANSFERRED_OUT, now
        entry = {"event": "transferred_out", "at": now.isoformat(), "to": transfer.target.ap_id}
        membership.history = [*membership.history, entry]
        membership.save()
    row = Follow.objects.filter(follower=transfer.member, target=source.actor).first()
    if row is not None:
        if not transfer.member.local:
            follows.reject_follow(row)  # the observer sees transferred_out and leaves it alone
        Follow.objects.filter(pk=row.pk).delete()


# ---------------------------------------------------------------- target side (Y)


def _activate(target: Group, transfer: Transfer) -> Membership:
    """Y's side: the member becomes active with the carried join date, verification and
    history (roles held elsewhere are history; the new role is ``member``)."""
    record = transfer.record
    now = timezone.now()
    membership = membership_of(transfer.member, target) or Membership(group=target, actor=transfer.member)
    if membership.state != MembershipState.ACTIVE:
        membership.role = "member"
    membership.state, membership.state_changed_at = MembershipState.ACTIVE, now
    try:
        joined = datetime.fromisoformat(record["joinedAt"]) if record.get("joinedAt") else None
    except (TypeError, ValueError):
        joined = None
    candidates = [d for d in (joined, membership.joined_at) if d is not None]
    membership.joined_at = min(candidates) if candidates else now
    membership.real_name_verified = membership.real_name_verified or bool(record.get("realNameVerified"))
    entry = {
        "event": "transferred_in",
        "at": now.isoformat(),
        "from": transfer.source.ap_id,
        "roles": record.get("roles", []),
        "duesPaidUpTo": record.get("duesPaidUpTo"),
    }
    membership.history = [*record.get("history", []), *membership.history, entry]
    membership.save()
    row = Follow.objects.filter(follower=transfer.member, target=target.actor).first()
    if row is None:
        Follow.objects.create(
            follower=transfer.member, target=target.actor, ap_id=follows.new_activity_id(), state=FollowState.ACCEPTED
        )
    elif row.state != FollowState.ACCEPTED:
        Follow.objects.filter(pk=row.pk).update(state=FollowState.ACCEPTED, state_changed_at=now)
    return membership


def _answer(transfer: Transfer, kind: str) -> None:
    """Send ``Accept``/``Reject`` of the Offer from local Y to remote X (in the caller's transaction)."""
    offer = {k: v for k, v in offer_to_ap(transfer).items() if k != "@context"}
    activity = {
        "@context": CONTEXT,
        "id": follows.new_activity_id(),
        "type": kind,
        "actor": transfer.target.ap_id,
        "to": [transfer.source.ap_id],
        "object": offer,
    }
    publish(activity, actor=transfer.target, inboxes=[transfer.source.inbox_url], object_ap_id=transfer.offer_ap_id)


def accept_transfer(officer: Actor, transfer: Transfer) -> Transfer:
    """Y's officer (``transfer`` permission) accepts an offered transfer: the member becomes an
    active member of Y with their history; X (local: in this same transaction; remote: on
    receiving our ``Accept``) marks them transferred out."""
    target = local_group_of(transfer.target)
    if target is None or not has_perm(officer, target, "transfer"):
        raise PermissionDenied("only the target group's officers accept transfers")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().select_related("source", "target", "member").get(pk=transfer.pk)
        if transfer.state != TransferState.OFFERED:
            raise TransferError(_("the transfer is %(state)s") % {"state": transfer.state})
        _activate(target, transfer)
        set_state(transfer, TransferState.ACCEPTED, decided_by=officer)
        source = local_group_of(transfer.source)
        if source is not None:
            mark_transferred_out(source, transfer)
        else:
            _answer(transfer, "Accept")
    return transfer


def reject_transfer(officer: Actor, transfer: Transfer, *, reason: str = "") -> Transfer:
    """Y's officer refuses an offered transfer; the member stays active in X."""
    target = local_group_of(transfer.target)
    if target is None or not has_perm(officer, target, "transfer"):
        raise PermissionDenied("only the target group's officers reject transfers")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().select_related("source", "target", "member").get(pk=transfer.pk)
        if transfer.state != TransferState.OFFERED:
            raise TransferError(_("the transfer is %(state)s") % {"state": transfer.state})
        set_state(
            transfer, TransferState.REJECTED, decided_by=officer, reason=clean_text(reason, 1000) or transfer.reason
        )
        if not transfer.source.local:
            _answer(transfer, "Reject")
    return transfer


# ---------------------------------------------------------------- reading


def transfers_for(member: Actor) -> QuerySet[Transfer]:
    """The member's own transfers (any state), newest first: their status throughout."""
    return Transfer.objects.filter(member=member).select_related("source", "target", "member")


def group_transfers(viewer: Actor, group: Group | Actor) -> QuerySet[Transfer]:
    """Transfers out of or into ``group``, for its officers with ``transfer`` only."""
    group = as_group(group)
    if not has_perm(viewer, group, "transfer"):
        raise PermissionDenied("only officers see the group's transfers")
    return Transfer.objects.filter(Q(source=group.actor) | Q(target=group.actor)).select_related(
        "source", "target", "member"
    )


def get_transfer_for(viewer: Actor | None, transfer_id: int) -> Transfer:
    """A transfer the viewer may see (the member, or an officer of a local side with
    ``transfer``); ``Transfer.DoesNotExist`` otherwise (same answer as absent)."""
    transfer = Transfer.objects.select_related("source", "target", "member").get(pk=transfer_id)
    if viewer is not None and viewer == transfer.member:
        return transfer
    for side in (transfer.source, transfer.target):
        group = local_group_of(side)
        if group is not None and has_perm(viewer, group, "transfer"):
            return transfer
    raise Transfer.DoesNotExist("no such transfer")


def transfer_to_dict(transfer: Transfer) -> dict[str, Any]:
    """The client API shape of a transfer (status visible to the member throughout)."""
    return {
        "id": str(transfer.pk),
        "state": transfer.state,
        "member": {"id": str(transfer.member_id), "acct": transfer.member.handle},
        "from": {"id": str(transfer.source_id), "acct": transfer.source.handle, "url": transfer.source.ap_id},
        "to": {"id": str(transfer.target_id), "acct": transfer.target.handle, "url": transfer.target.ap_id},
        "reason": transfer.reason,
        "record": transfer.record or None,
        "created_at": transfer.created_at.isoformat(),
        "state_changed_at": transfer.state_changed_at.isoformat(),
    }

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
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from federation import follows
from federation.inbound import Reject, same_origin
from federation.lookup import resolve_handle
from federation.models import Actor, ActorType, Follow, FollowState
from federation.outbox import publish
from federation.registry import register_handler
from federation.resolve import get_or_fetch_actor
from federation.vocab import CONTEXT, id_of
from groups.dues import paid_up_to
from groups.models import Group, Membership, MembershipState, Transfer, TransferState
from groups.records import clean_text
from groups.services import as_group, has_perm, is_member, membership_of

RECORD_TYPE = "redcloud:MembershipRecord"
NS = "redcloud:"
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
            raise TransferError(f"cannot find the group {value!r}") from exc
    if actor.type != ActorType.GROUP:
        raise TransferError("the target is not a group")
    if actor.local and not Group.objects.filter(actor=actor).exists():
        raise TransferError("the target is not a group")
    return actor


def _local_group(actor: Actor) -> Group | None:
    return Group.objects.filter(actor=actor).first() if actor.local else None


def _set(transfer: Transfer, state: str, **fields: Any) -> Transfer:
    transfer.state = state
    transfer.state_changed_at = timezone.now()
    for name, value in fields.items():
        setattr(transfer, name, value)
    transfer.save()
    return transfer


# ---------------------------------------------------------------- the membership record


def membership_record(membership: Membership) -> dict[str, Any]:
    """What a transfer carries: join date, roles held (current first), real-name verification,
    dues paid up to, and the membership's history (events with their dates and roles)."""
    roles = [membership.role]
    for entry in membership.history:
        role = entry.get("role") if isinstance(entry, dict) else None
        if isinstance(role, str) and role not in roles:
            roles.append(role)
    history = [
        {k: v for k, v in entry.items() if k in ("event", "at", "role", "group", "from", "to")}
        for entry in membership.history
        if isinstance(entry, dict)
    ]
    return {
        "group": membership.group.actor.ap_id,
        "joinedAt": membership.joined_at.isoformat() if membership.joined_at else None,
        "roles": roles,
        "realNameVerified": bool(membership.real_name_verified),
        "duesPaidUpTo": paid_up_to(membership.group, membership.actor) or None,
        "history": history,
    }


def offer_to_ap(transfer: Transfer) -> dict[str, Any]:
    """The ``Offer`` X sends Y: ``redcloud:`` terms of the namespace in ``federation.vocab``."""
    record = transfer.record
    return {
        "@context": CONTEXT,
        "id": transfer.offer_ap_id,
        "type": "Offer",
        "actor": transfer.source.ap_id,
        "to": [transfer.target.ap_id],
        "target": transfer.target.ap_id,
        "object": {
            "id": f"{transfer.offer_ap_id}#record",
            "type": RECORD_TYPE,
            "attributedTo": transfer.source.ap_id,
            f"{NS}member": transfer.member.ap_id,
            f"{NS}joinedAt": record.get("joinedAt"),
            f"{NS}roles": record.get("roles", []),
            f"{NS}realNameVerified": bool(record.get("realNameVerified")),
            f"{NS}duesPaidUpTo": record.get("duesPaidUpTo"),
            f"{NS}history": record.get("history", []),
        },
        "published": transfer.state_changed_at.isoformat(),
    }


def ap_to_record(obj: dict[str, Any], source: Actor) -> dict[str, Any]:
    """The membership record of an inbound Offer's object (tolerant of missing fields)."""

    def get(name: str) -> Any:
        return obj.get(f"{NS}{name}", obj.get(name))

    roles = [str(r)[:32] for r in (get("roles") or []) if isinstance(r, str)][:20]
    history = [h for h in (get("history") or []) if isinstance(h, dict)][:200]
    dues = get("duesPaidUpTo")
    return {
        "group": source.ap_id,
        "joinedAt": get("joinedAt") if isinstance(get("joinedAt"), str) else None,
        "roles": roles,
        "realNameVerified": get("realNameVerified") is True,
        "duesPaidUpTo": dues if isinstance(dues, str) else None,
        "history": [{k: str(v)[:500] for k, v in h.items()} for h in history],
    }


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
        raise TransferError("only active members can be transferred")
    if requester != member and not has_perm(requester, source, "transfer"):
        raise PermissionDenied("only the member or an officer may ask for a transfer")
    target_actor = _group_actor(target)
    if target_actor.pk == source.actor_id:
        raise TransferError("the member is already in this group")
    with transaction.atomic():
        if Transfer.objects.filter(member=member, source=source.actor, state__in=OPEN).exists():
            raise TransferError("a transfer of this member is already under way")
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
    source = _local_group(transfer.source)
    if source is None or not has_perm(officer, source, "transfer"):
        raise PermissionDenied("only the source group's officers approve transfers")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if transfer.state != TransferState.REQUESTED:
            raise TransferError(f"the transfer is {transfer.state}")
        membership = membership_of(transfer.member, source)
        if membership is None or not membership.active:
            raise TransferError("the member is no longer active in this group")
        _set(
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
    source = _local_group(transfer.source)
    if source is None or not has_perm(officer, source, "transfer"):
        raise PermissionDenied("only the source group's officers decline transfers")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if transfer.state != TransferState.REQUESTED:
            raise TransferError(f"the transfer is {transfer.state}")
        return _set(
            transfer, TransferState.DECLINED, decided_by=officer, reason=clean_text(reason, 1000) or transfer.reason
        )


def cancel_transfer(actor: Actor, transfer: Transfer) -> Transfer:
    """The member (or an X officer) withdraws a transfer not yet approved. Once offered, only Y
    decides: cancelling then could race Y's Accept into a double membership."""
    source = _local_group(transfer.source)
    if actor != transfer.member and not (source and has_perm(actor, source, "transfer")):
        raise PermissionDenied("only the member or an officer may cancel")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)  # re-read: approval may have won
        if transfer.state != TransferState.REQUESTED:
            raise TransferError("only a transfer not yet approved can be cancelled")
        return _set(transfer, TransferState.CANCELLED, decided_by=actor)


def _mark_transferred_out(source: Group, transfer: Transfer) -> None:
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
    target = _local_group(transfer.target)
    if target is None or not has_perm(officer, target, "transfer"):
        raise PermissionDenied("only the target group's officers accept transfers")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().select_related("source", "target", "member").get(pk=transfer.pk)
        if transfer.state != TransferState.OFFERED:
            raise TransferError(f"the transfer is {transfer.state}")
        _activate(target, transfer)
        _set(transfer, TransferState.ACCEPTED, decided_by=officer)
        source = _local_group(transfer.source)
        if source is not None:
            _mark_transferred_out(source, transfer)
        else:
            _answer(transfer, "Accept")
    return transfer


def reject_transfer(officer: Actor, transfer: Transfer, *, reason: str = "") -> Transfer:
    """Y's officer refuses an offered transfer; the member stays active in X."""
    target = _local_group(transfer.target)
    if target is None or not has_perm(officer, target, "transfer"):
        raise PermissionDenied("only the target group's officers reject transfers")
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().select_related("source", "target", "member").get(pk=transfer.pk)
        if transfer.state != TransferState.OFFERED:
            raise TransferError(f"the transfer is {transfer.state}")
        _set(transfer, TransferState.REJECTED, decided_by=officer, reason=clean_text(reason, 1000) or transfer.reason)
        if not transfer.source.local:
            _answer(transfer, "Reject")
    return transfer


# ---------------------------------------------------------------- inbound


@register_handler("Offer", RECORD_TYPE)
def handle_offer_membership(activity: dict[str, Any], actor: Actor) -> None:
    """A remote group X offers us one of its members: stored as ``offered`` for our officers."""
    obj = activity.get("object")
    target = Group.objects.filter(actor__ap_id=id_of(activity.get("target")), actor__local=True).first()
    if target is None:
        raise Reject("the Offer's target is not a group of this node")
    if actor.type != ActorType.GROUP:
        raise Reject("only a group may offer a member")
    if not isinstance(obj, dict) or not same_origin(activity.get("id"), actor):
        raise Reject("a membership Offer must embed the record and come from the group's host")
    if Transfer.objects.filter(offer_ap_id=activity["id"]).exists():
        return  # a replay
    try:
        member = get_or_fetch_actor(str(obj.get(f"{NS}member") or ""))
    except Exception as exc:
        raise Reject(f"cannot resolve the member: {exc}") from exc
    Transfer.objects.create(
        member=member,
        source=actor,
        target=target.actor,
        state=TransferState.OFFERED,
        record=ap_to_record(obj, actor),
        offer_ap_id=activity["id"],
    )


def _outgoing_for_answer(activity: dict[str, Any], actor: Actor) -> Transfer | None:
    offer_id = id_of(activity.get("object"))
    transfer = (
        Transfer.objects.select_for_update()
        .select_related("source", "target", "member")
        .filter(offer_ap_id=offer_id)
        .first()
        if offer_id
        else None
    )
    if transfer is None or not transfer.source.local:
        return None
    if transfer.target_id != actor.pk:
        raise Reject("only the target group may answer a membership Offer")
    return transfer


@register_handler("Accept", "Offer")
def handle_accept_offer(activity: dict[str, Any], actor: Actor) -> None:
    """Y accepted our Offer: the member is now Y's, so X marks them transferred out (idempotent)."""
    transfer = _outgoing_for_answer(activity, actor)
    if transfer is None:
        raise Reject("no such membership Offer")
    if transfer.state == TransferState.ACCEPTED:
        return
    if transfer.state != TransferState.OFFERED:
        raise Reject(f"the transfer is {transfer.state}")
    source = _local_group(transfer.source)
    _set(transfer, TransferState.ACCEPTED)
    if source is not None:
        _mark_transferred_out(source, transfer)


@register_handler("Reject", "Offer")
def handle_reject_offer(activity: dict[str, Any], actor: Actor) -> None:
    """Y refused our Offer: the member stays active in X (idempotent)."""
    transfer = _outgoing_for_answer(activity, actor)
    if transfer is None:
        raise Reject("no such membership Offer")
    if transfer.state == TransferState.REJECTED:
        return
    if transfer.state != TransferState.OFFERED:
        raise Reject(f"the transfer is {transfer.state}")
    _set(transfer, TransferState.REJECTED)


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
        group = _local_group(side)
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

"""Inbound transfers: a remote group's membership ``Offer``, and the target group's
``Accept``/``Reject`` of our own Offer (see the state machine in ``groups/transfers.py``).

Handlers register on import (``groups/apps.py``); each is idempotent (a replayed Offer or
answer changes nothing), and an answer from anyone but the Offer's target group is refused.
"""

from __future__ import annotations

from typing import Any

from federation.inbound import Reject, same_origin
from federation.models import Actor, ActorType
from federation.registry import register_handler
from federation.resolve import get_or_fetch_actor
from federation.vocab import id_of
from groups.models import Group, Transfer, TransferState
from groups.transfers import local_group_of, mark_transferred_out, set_state
from groups.transfers_ap import NS, RECORD_TYPE, ap_to_record


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
    source = local_group_of(transfer.source)
    set_state(transfer, TransferState.ACCEPTED)
    if source is not None:
        mark_transferred_out(source, transfer)


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
    set_state(transfer, TransferState.REJECTED)

"""Follows between actors: services (follow, unfollow, accept, reject) and their inbound handlers.

Rules: ``Accept``/``Reject`` of a follow only by the followed actor; ``Undo{Follow}`` only by the
follower; a ``Follow`` must target a local actor. Locked actors (``manuallyApprovesFollowers``)
keep follows pending until accepted.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from federation.actors import base_url
from federation.inbound import Reject, same_origin
from federation.models import Actor, Follow, FollowState
from federation.outbox import publish
from federation.registry import notify_follow, register_handler
from federation.resolve import get_or_fetch_actor
from federation.vocab import AS_CONTEXT, id_of


class FollowError(Exception):
    """A follow action that cannot be done (self-follow, not local, ...)."""


def new_activity_id() -> str:
    """A fresh, stable, opaque id for an activity this node publishes."""
    return f"{base_url()}/activities/{uuid.uuid4()}"


def follow_to_ap(follow: Follow) -> dict[str, Any]:
    """The ``Follow`` activity of a follow row."""
    return {
        "@context": AS_CONTEXT,
        "id": follow.ap_id,
        "type": "Follow",
        "actor": follow.follower.ap_id,
        "object": follow.target.ap_id,
        "to": [follow.target.ap_id],
    }


def _respond(follow: Follow, kind: str) -> None:
    """Send ``Accept``/``Reject`` of ``follow`` from its (local) target to its (remote) follower."""
    if follow.follower.local:
        return
    activity = {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": kind,
        "actor": follow.target.ap_id,
        "object": {k: v for k, v in follow_to_ap(follow).items() if k != "@context"},
        "to": [follow.follower.ap_id],
    }
    publish(activity, actor=follow.target, inboxes=[follow.follower.inbox_url], object_ap_id=follow.ap_id)


def follow(follower: Actor, target: Actor) -> Follow:
    """``follower`` (local) follows ``target``. Local targets accept at once unless locked;
    remote targets get a ``Follow`` and the row stays pending until their ``Accept``.
    Following again is harmless: the existing row is returned (re-sent when still pending)."""
    if not follower.local:
        raise FollowError("only local actors can follow from this node")
    if follower.pk == target.pk:
        raise FollowError("an actor cannot follow itself")
    with transaction.atomic():
        row, created = Follow.objects.select_for_update().get_or_create(
            follower=follower, target=target, defaults={"ap_id": new_activity_id()}
        )
        if not created and row.state == FollowState.ACCEPTED:
            return row
        if row.state == FollowState.REJECTED:
            row.state, row.ap_id = FollowState.PENDING, new_activity_id()
            row.state_changed_at = timezone.now()
            row.save(update_fields=["state", "ap_id", "state_changed_at"])
        if target.local:
            if not target.manually_approves_followers:
                _set_state(row, FollowState.ACCEPTED)
                notify_follow("accepted", row)
            else:
                notify_follow("requested", row)
        else:
            publish(follow_to_ap(row), actor=follower, inboxes=[target.inbox_url], object_ap_id=row.ap_id)
    return row


def unfollow(follower: Actor, target: Actor) -> bool:
    """Stop following (or withdraw a request); sends ``Undo{Follow}`` to a remote target."""
    with transaction.atomic():
        row = Follow.objects.select_for_update().filter(follower=follower, target=target).first()
        if row is None:
            return False
        if not target.local and follower.local:
            undo = {
                "@context": AS_CONTEXT,
                "id": new_activity_id(),
                "type": "Undo",
                "actor": follower.ap_id,
                "object": {k: v for k, v in follow_to_ap(row).items() if k != "@context"},
                "to": [target.ap_id],
            }
            publish(undo, actor=follower, inboxes=[target.inbox_url], object_ap_id=row.ap_id)
        notify_follow("undone", row)
        row.delete()
    return True


def _set_state(row: Follow, state: str) -> None:
    row.state = state
    row.state_changed_at = timezone.now()
    row.save(update_fields=["state", "state_changed_at"])


def accept_follow(row: Follow) -> Follow:
    """The local target accepts a pending follow (sends ``Accept`` to a remote follower)."""
    with transaction.atomic():
        _set_state(row, FollowState.ACCEPTED)
        _respond(row, "Accept")
        notify_follow("accepted", row)
    return row


def reject_follow(row: Follow) -> None:
    """The local target rejects (or removes) a follower (sends ``Reject`` to a remote one)."""
    with transaction.atomic():
        _respond(row, "Reject")
        notify_follow("rejected", row)
        row.delete()


# ---------------------------------------------------------------- inbound handlers


@register_handler("Follow")
def handle_follow(activity: dict[str, Any], actor: Actor) -> None:
    """A remote actor asks to follow a local one."""
    target_id = id_of(activity.get("object"))
    target = Actor.objects.filter(ap_id=target_id, local=True).first() if target_id else None
    if target is None:
        raise Reject(f"follow target {target_id!r} is not a local actor")
    if target.suspended:
        raise Reject("target suspended")
    row, created = Follow.objects.get_or_create(
        follower=actor, target=target, defaults={"ap_id": activity["id"], "state": FollowState.PENDING}
    )
    if not created and row.ap_id != activity["id"]:
        row.ap_id = activity["id"]
        row.save(update_fields=["ap_id"])
    if row.state == FollowState.ACCEPTED or not target.manually_approves_followers:
        # Already accepted: answer again, the follower may have lost our first Accept.
        _set_state(row, FollowState.ACCEPTED)
        _respond(row, "Accept")
        notify_follow("accepted", row)
    else:
        notify_follow("requested", row)


def _follow_for_response(activity: dict[str, Any], actor: Actor) -> Follow:
    obj = activity.get("object")
    follow_id = id_of(obj)
    row = Follow.objects.filter(ap_id=follow_id).select_related("target", "follower").first() if follow_id else None
    if row is None and isinstance(obj, dict):
        # Some servers (older Pleroma) answer with a re-serialised Follow whose id differs.
        follower = Actor.objects.filter(ap_id=id_of(obj.get("actor")), local=True).first()
        row = Follow.objects.filter(follower=follower, target=actor).first() if follower else None
    if row is None:
        raise Reject("no such follow request")
    if row.target_id != actor.pk:
        raise Reject("only the followed actor may accept or reject a follow")
    return row


@register_handler("Accept", "Follow")
def handle_accept_follow(activity: dict[str, Any], actor: Actor) -> None:
    """The remote target accepted our follow."""
    row = _follow_for_response(activity, actor)
    if row.state != FollowState.ACCEPTED:
        _set_state(row, FollowState.ACCEPTED)
        notify_follow("accepted", row)


@register_handler("Reject", "Follow")
def handle_reject_follow(activity: dict[str, Any], actor: Actor) -> None:
    """The remote target rejected our follow (or removed us as a follower)."""
    row = _follow_for_response(activity, actor)
    notify_follow("rejected", row)
    row.delete()


@register_handler("Undo", "Follow")
def handle_undo_follow(activity: dict[str, Any], actor: Actor) -> None:
    """The remote follower withdraws its follow."""
    obj = activity.get("object")
    follow_id = id_of(obj)
    row = Follow.objects.filter(ap_id=follow_id).first() if follow_id else None
    if row is None and isinstance(obj, dict):
        target = Actor.objects.filter(ap_id=id_of(obj.get("object")), local=True).first()
        row = Follow.objects.filter(follower=actor, target=target).first() if target else None
    if row is None:
        return  # nothing to undo: idempotent
    if row.follower_id != actor.pk:
        raise Reject("only the follower may undo a follow")
    notify_follow("undone", row)
    row.delete()


@register_handler("Update", "Person")
@register_handler("Update", "Group")
@register_handler("Update", "Service")
@register_handler("Update", "Application")
@register_handler("Update", "Organization")
def handle_update_actor(activity: dict[str, Any], actor: Actor) -> None:
    """A remote actor changed its profile or rotated its key: refetch it from its origin."""
    if id_of(activity.get("object")) != actor.ap_id:
        raise Reject("an actor may only update itself")
    get_or_fetch_actor(actor.ap_id, refresh=True)


@register_handler("Delete", "Person")
def handle_delete_actor(activity: dict[str, Any], actor: Actor) -> None:
    """A remote account was deleted: suspend our copy and drop its follows."""
    if id_of(activity.get("object")) != actor.ap_id or not same_origin(activity.get("id"), actor):
        raise Reject("an actor may only delete itself")
    Follow.objects.filter(follower=actor).delete()
    Follow.objects.filter(target=actor).delete()
    actor.suspended = True
    actor.save(update_fields=["suspended"])

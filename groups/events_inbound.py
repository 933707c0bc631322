"""Inbound event activities: a remote group's ``Create``/``Update{Event}``, RSVPs to our
events (``Join``, Smithereen's ``TentativeJoin``, ``Leave``), the answers to our members' RSVPs
(``Accept``/``Reject{Join}``) and ``Delete`` of a remote event.

Handlers register on import (``groups/apps.py``). A ``Join``/``Leave``/``Delete`` whose object
is a bare id reaches the any-object handler; ours chain to the handler registered before them
(the group membership's or microblog's) when the object is not an event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from federation import registry
from federation.actors import get_instance_actor
from federation.inbound import Reject, same_origin
from federation.models import Actor
from federation.vocab import id_of, type_of
from groups.events_ap import RSVP_TYPES, ap_to_event, send_answer
from groups.events_rsvp import leave_event, rsvp_local_event
from groups.models import Event, EventParticipation, ParticipationState

Handler = Callable[[dict[str, Any], Actor], None]


def _chained(activity_type: str, object_type: str | None, own: Callable[[dict[str, Any], Actor], bool]) -> None:
    """Register ``own`` for the pair; when it returns False (not about an event) the handler
    registered before it for the same pair runs, else the activity is refused."""
    previous = registry.handler_for(activity_type, object_type)

    def handler(activity: dict[str, Any], actor: Actor) -> None:
        if own(activity, actor):
            return
        if previous is not None:
            previous(activity, actor)
            return
        raise Reject(f"{activity_type} of an unknown object")

    handler.__name__ = f"handle_{activity_type.lower()}_{(object_type or 'any').lower()}_event"
    registry.register_handler(activity_type, object_type)(handler)


def handle_create_event(activity: dict[str, Any], actor: Actor) -> None:
    """Store a remote group's event (Create or Update)."""
    obj = activity.get("object")
    if not isinstance(obj, dict):
        raise Reject("Event not embedded")
    ap_to_event(obj, sender=actor)


registry.register_handler("Create", "Event")(handle_create_event)
registry.register_handler("Update", "Event")(handle_create_event)


def _reply_reject(activity: dict[str, Any], actor: Actor, sender: Actor | None) -> None:
    """Answer an RSVP we can't take with ``Reject`` (never silence), from the event's group
    when known, else from the node's instance actor."""
    join = {k: activity[k] for k in ("id", "type", "actor", "object") if k in activity}
    send_answer(sender or get_instance_actor(), actor, join, accept=False)


def _rsvp(activity: dict[str, Any], actor: Actor) -> bool:
    obj = activity.get("object")
    obj_id = id_of(obj) if not isinstance(obj, list) else None
    event = Event.objects.select_related("group_actor").filter(ap_id=obj_id).first() if obj_id else None
    if event is None:
        if obj_id and Actor.objects.filter(ap_id=obj_id).exists():
            return False  # a Join of a group or person: membership's business
        _reply_reject(activity, actor, None)
        return True
    join_id = id_of(activity)
    if not event.local or not join_id or not same_origin(join_id, actor):
        _reply_reject(activity, actor, event.group_actor)
        return True
    tentative = activity.get("type") == "TentativeJoin"
    row = rsvp_local_event(event, actor, join_ap_id=join_id, tentative=tentative)
    join = {"id": join_id, "type": activity.get("type"), "actor": actor.ap_id, "object": event.ap_id}
    if row.state in (ParticipationState.ACCEPTED, ParticipationState.TENTATIVE):
        send_answer(event.group_actor, actor, join, accept=True)
    elif row.state == ParticipationState.REJECTED:
        send_answer(event.group_actor, actor, join, accept=False)
    return True  # pending: an officer answers later


def _leave(activity: dict[str, Any], actor: Actor) -> bool:
    event = Event.objects.filter(ap_id=id_of(activity.get("object")) or "", local=True).first()
    if event is None:
        return False
    leave_event(actor, event)
    return True


def _delete(activity: dict[str, Any], actor: Actor) -> bool:
    obj_id = id_of(activity.get("object")) or ""
    event = Event.objects.filter(ap_id=obj_id, local=False).first()
    if event is None:
        return False
    if not same_origin(obj_id, actor):
        raise Reject("Delete of another host's event")
    event.delete()
    return True


def _rsvp_answer(accept: bool) -> Callable[[dict[str, Any], Actor], bool]:
    def own(activity: dict[str, Any], actor: Actor) -> bool:
        obj = activity.get("object")
        join_id = id_of(obj)
        row = (
            EventParticipation.objects.select_related("event", "actor")
            .filter(join_ap_id=join_id or "", actor__local=True, event__local=False)
            .first()
        )
        if row is None and isinstance(obj, dict) and type_of(obj) in RSVP_TYPES:  # Join re-embedded without our id
            row = (
                EventParticipation.objects.select_related("event", "actor")
                .filter(actor__ap_id=id_of(obj.get("actor")) or "", event__ap_id=id_of(obj.get("object")) or "")
                .filter(actor__local=True, event__local=False)
                .first()
            )
        if row is None:
            return False
        # Mobilizon answers from the organiser's Person, not the group: same host is what we can check.
        if actor.pk != row.event.group_actor_id and not same_origin(row.event.ap_id, actor):
            raise Reject("RSVP answered by another host")
        if row.state in (ParticipationState.PENDING, ParticipationState.TENTATIVE, ParticipationState.ACCEPTED):
            row.state = ParticipationState.ACCEPTED if accept else ParticipationState.REJECTED
            row.updated_at = timezone.now()
            row.save(update_fields=["state", "updated_at"])
        return True

    return own


def register() -> None:
    """Register the chained handlers (run once, on import of this module, which
    ``groups/apps.py`` does after importing the membership handlers)."""
    for kind in RSVP_TYPES:
        _chained(kind, None, _rsvp)
        _chained(kind, "Event", _rsvp)
    _chained("Leave", None, _leave)
    _chained("Leave", "Event", _leave)
    _chained("Delete", None, _delete)
    _chained("Delete", "Event", _delete)
    for kind in RSVP_TYPES:
        _chained("Accept", kind, _rsvp_answer(True))
        _chained("Reject", kind, _rsvp_answer(False))


register()

"""Events on the wire, in the shape Mobilizon uses (``Event`` attributed to a ``Group``), and
RSVPs: ``Join`` → ``Accept``/``Reject``, ``Leave``; Smithereen's ``TentativeJoin`` is a "maybe".

Conversions (``event_to_ap``, ``ap_to_event``) are pure apart from storing; ``federate_*`` and
``send_*`` hand activities to ``federation.outbox.publish`` inside the caller's transaction.
Inbound handlers are in ``groups/events_inbound.py``.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from federation.follows import new_activity_id
from federation.inbound import Reject, same_origin
from federation.models import Actor, ActorType
from federation.outbox import cancel_deliveries, inboxes_for_followers, publish
from federation.resolve import ResolveError, get_or_fetch_actor
from federation.sanitize import sanitize_html
from federation.vocab import CONTEXT, PUBLIC, PUBLIC_FORMS, as_list, id_of, ids_of
from groups.events_rsvp import participant_count, remaining_capacity
from groups.models import Event, EventJoinMode, EventParticipation, EventStatus, EventVisibility, ParticipationState

# Mobilizon's terms (schema.org + its own namespace), declared inline: nothing is fetched.
EVENT_CONTEXT: list[Any] = [
    *CONTEXT[:2],
    {
        **CONTEXT[2],
        "sc": "http://schema.org#",
        "mz": "https://joinmobilizon.org/ns#",
        "ical": "http://www.w3.org/2002/12/cal/ical#",
        "timezone": {"@id": "mz:timezone", "@type": "sc:Text"},
        "isOnline": {"@id": "mz:isOnline", "@type": "sc:Boolean"},
        "joinMode": {"@id": "mz:joinMode", "@type": "mz:joinModeType"},
        "joinModeType": {"@id": "mz:joinModeType", "@type": "rdfs:Class"},
        "maximumAttendeeCapacity": "sc:maximumAttendeeCapacity",
        "remainingAttendeeCapacity": "sc:remainingAttendeeCapacity",
        "participantCount": {"@id": "mz:participantCount", "@type": "sc:Integer"},
        "participationMessage": {"@id": "mz:participationMessage", "@type": "sc:Text"},
        "location": {"@id": "sc:location", "@type": "sc:Place"},
        "address": {"@id": "sc:address", "@type": "sc:PostalAddress"},
        "PostalAddress": "sc:PostalAddress",
        "streetAddress": "sc:streetAddress",
        "addressLocality": "sc:addressLocality",
        "addressRegion": "sc:addressRegion",
        "postalCode": "sc:postalCode",
        "addressCountry": "sc:addressCountry",
        "TentativeJoin": "https://smithereen.software/ns#TentativeJoin",  # Smithereen's "maybe"
    },
]
ICAL_STATUS = {
    EventStatus.CONFIRMED: "CONFIRMED",
    EventStatus.TENTATIVE: "TENTATIVE",
    EventStatus.CANCELLED: "CANCELLED",
}
RSVP_TYPES = ("Join", "TentativeJoin")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def event_to_ap(event: Event) -> dict[str, Any]:
    """The event as Mobilizon sends it: ``Event{name, content, startTime, endTime, timezone,
    location: Place{address: PostalAddress, latitude, longitude} | isOnline + a Link attachment
    named "Website", joinMode, maximumAttendeeCapacity (0 = unlimited, as Mobilizon),
    remainingAttendeeCapacity, participantCount, ical:status, attributedTo: the group}``."""
    group = event.group_actor
    followers = group.followers_url or f"{group.ap_id}/followers"
    if event.visibility == EventVisibility.PUBLIC:
        to, cc = [PUBLIC], [followers]
    else:
        to, cc = [followers], []
    doc: dict[str, Any] = {
        "@context": EVENT_CONTEXT,
        "id": event.ap_id,
        "type": "Event",
        "url": event.url or event.ap_id,
        "name": event.name,
        "content": event.content,
        "mediaType": "text/html",
        "startTime": _iso(event.start_at),
        "endTime": _iso(event.end_at),
        "timezone": event.timezone,
        "attributedTo": group.ap_id,
        "audience": group.ap_id,
        "to": to,
        "cc": cc,
        "joinMode": event.join_mode,
        "maximumAttendeeCapacity": event.max_capacity or 0,
        "remainingAttendeeCapacity": remaining_capacity(event),
        "participantCount": participant_count(event),
        "ical:status": ICAL_STATUS.get(event.status, "CONFIRMED"),
        "isOnline": bool(event.online_url) and not event.location_name,
        "published": _iso(event.created_at),
        "updated": _iso(event.updated_at),
        "attachment": [],
    }
    if event.organizer is not None:
        doc["actor"] = event.organizer.ap_id  # Mobilizon names the organiser as "actor"
    if event.location_name or event.street or event.locality:
        place: dict[str, Any] = {"type": "Place", "name": event.location_name or event.locality}
        place["address"] = {
            "type": "PostalAddress",
            "streetAddress": event.street,
            "addressLocality": event.locality,
            "addressRegion": event.region,
            "postalCode": event.postal_code,
            "addressCountry": event.country,
        }
        if event.latitude is not None and event.longitude is not None:
            place["latitude"], place["longitude"] = event.latitude, event.longitude
        doc["location"] = place
    if event.online_url:
        # Mobilizon carries the video meeting link as a Link attachment named "Website".
        doc["attachment"].append(
            {"type": "Link", "name": "Website", "href": event.online_url, "mediaType": "text/html"}
        )
    return doc


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _online_url(data: dict[str, Any]) -> str:
    for item in as_list(data.get("attachment")):
        if isinstance(item, dict) and item.get("type") == "Link" and item.get("name") == "Website":
            href = item.get("href")
            if isinstance(href, str) and href.lower().startswith(("https://", "http://")):
                return href[:500]
    return ""


def event_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Model fields from an AS2 ``Event`` (Mobilizon shape): sanitised content, aware times,
    address parts, the meeting link, capacity (0 or absent = unlimited). Raises ``ValueError``
    when the event has no name or no parseable start."""
    start = parse_datetime(data.get("startTime") or "") if isinstance(data.get("startTime"), str) else None
    end = parse_datetime(data.get("endTime") or "") if isinstance(data.get("endTime"), str) else None
    name = _text(data.get("name"), 300)
    if not name or start is None or timezone.is_naive(start):
        raise ValueError("an Event needs a name and a startTime with an offset")
    if end is not None and (timezone.is_naive(end) or end < start):
        end = None
    location = data.get("location") if isinstance(data.get("location"), dict) else {}
    address = location.get("address") if isinstance(location.get("address"), dict) else {}
    status = str(data.get("ical:status") or data.get("status") or "CONFIRMED").lower()
    join_mode = data.get("joinMode") if data.get("joinMode") in EventJoinMode.values else EventJoinMode.FREE
    capacity = data.get("maximumAttendeeCapacity")
    count = data.get("participantCount")
    public = any(t in PUBLIC_FORMS for t in ids_of(data.get("to")) + ids_of(data.get("cc")))
    url = data.get("url") if isinstance(data.get("url"), str) else id_of(as_list(data.get("url"))[:1] or None)
    return {
        "name": name,
        "content": sanitize_html(data["content"]) if isinstance(data.get("content"), str) else "",
        "start_at": start,
        "end_at": end,
        "timezone": _text(data.get("timezone"), 64) or "UTC",
        "url": (url or "")[:500],
        "location_name": _text(location.get("name"), 300),
        "street": _text(address.get("streetAddress"), 300),
        "locality": _text(address.get("addressLocality"), 200),
        "region": _text(address.get("addressRegion"), 200),
        "postal_code": _text(address.get("postalCode"), 32),
        "country": _text(address.get("addressCountry"), 100),
        "latitude": _number(location.get("latitude")),
        "longitude": _number(location.get("longitude")),
        "online_url": _online_url(data),
        "join_mode": join_mode,
        "max_capacity": capacity
        if isinstance(capacity, int) and not isinstance(capacity, bool) and capacity > 0
        else None,
        "remote_participant_count": count if isinstance(count, int) and count >= 0 else 0,
        "status": status if status in EventStatus.values else EventStatus.CONFIRMED,
        "visibility": EventVisibility.PUBLIC if public else EventVisibility.MEMBERS,
    }


def _owning_group(data: dict[str, Any], sender: Actor) -> Actor:
    """The ``Group`` actor owning a remote event: named in ``attributedTo`` (Mobilizon,
    PeerTube lists), ``audience``, ``to`` or ``context``, on the event's own host."""
    candidates = ids_of(data.get("attributedTo")) + ids_of(data.get("audience")) + ids_of(data.get("to"))
    candidates += ids_of(data.get("context"))
    for ident in candidates:
        if ident in PUBLIC_FORMS or not same_origin(ident, sender):
            continue
        actor = Actor.objects.filter(ap_id=ident).first()
        if actor is None:
            try:
                actor = get_or_fetch_actor(ident)
            except (ResolveError, ValueError):
                continue
        if actor.type == ActorType.GROUP:
            return actor
    raise Reject("event not attributed to a group on its own host")


def ap_to_event(data: dict[str, Any], *, sender: Actor) -> Event:
    """Create or update the remote event ``data`` sent by ``sender`` (same host as the event
    id, the event attributed to a group on that host). Raises ``Reject`` otherwise."""
    ap_id = id_of(data)
    if not ap_id or not same_origin(ap_id, sender):
        raise Reject("event id not on the sender's host")
    try:
        fields = event_fields(data)
    except ValueError as exc:
        raise Reject(str(exc)) from None
    group_actor = _owning_group(data, sender)
    existing = Event.objects.filter(ap_id=ap_id).first()
    if existing is not None and (existing.local or existing.group_actor_id != group_actor.pk):
        raise Reject("event belongs to another group")
    organizer = Actor.objects.filter(ap_id=id_of(data.get("actor")) or "").first()
    fields.update(group_actor=group_actor, organizer=organizer, local=False, updated_at=timezone.now())
    if existing is None:
        return Event.objects.create(ap_id=ap_id, **fields)
    for key, value in fields.items():
        setattr(existing, key, value)
    existing.save()
    return existing


# --- outbound --------------------------------------------------------------------------------
def _event_inboxes(event: Event) -> list[str]:
    """The group's remote followers (members) plus remote participants."""
    inboxes = inboxes_for_followers(event.group_actor)
    rows = event.participations.filter(actor__local=False).exclude(state=ParticipationState.LEFT)
    inboxes += [p.actor.delivery_inbox for p in rows.select_related("actor")]
    return inboxes


def federate_event(event: Event, kind: str) -> None:
    """Publish ``Create{Event}``/``Update{Event}`` from the group actor (stable activity id per
    version, so a repeated task sends nothing twice)."""
    stamp = int(event.updated_at.timestamp() * 1000)
    activity_id = f"{event.ap_id}#create" if kind == "Create" else f"{event.ap_id}#update-{stamp}"
    doc = event_to_ap(event)
    activity = {
        "@context": EVENT_CONTEXT,
        "id": activity_id,
        "type": kind,
        "actor": event.group_actor.ap_id,
        "object": {k: v for k, v in doc.items() if k != "@context"},
        "to": doc["to"],
        "cc": doc["cc"],
    }
    publish(
        activity,
        actor=event.group_actor,
        inboxes=_event_inboxes(event),
        object_ap_id=event.ap_id,
        public=event.visibility == EventVisibility.PUBLIC,
    )


@shared_task(name="groups.federate_event", ignore_result=True)
def federate_event_task(event_id: int, kind: str) -> None:
    """After commit: send the event's Create/Update (no-op if it was deleted meanwhile)."""
    event = Event.objects.select_related("group_actor", "organizer").filter(pk=event_id, local=True).first()
    if event is not None:
        federate_event(event, kind)


def federate_delete_event(event: Event) -> None:
    """Publish ``Delete`` of a local event (in the caller's transaction) and cancel pending
    deliveries of its Create/Update."""
    cancel_deliveries(event.ap_id)
    doc = event_to_ap(event)
    activity = {
        "@context": CONTEXT,
        "id": f"{event.ap_id}#delete",
        "type": "Delete",
        "actor": event.group_actor.ap_id,
        "object": {"id": event.ap_id, "type": "Tombstone", "formerType": "Event"},
        "to": doc["to"],
        "cc": doc["cc"],
    }
    publish(activity, actor=event.group_actor, inboxes=_event_inboxes(event), object_ap_id=event.ap_id)


def send_join(row: EventParticipation, *, tentative: bool = False) -> str:
    """Send a local member's ``Join`` (or ``TentativeJoin``) of a remote event to its group;
    returns the activity id (what the group's ``Accept``/``Reject`` will name)."""
    event = row.event
    activity_id = new_activity_id()
    activity = {
        "@context": EVENT_CONTEXT,
        "id": activity_id,
        "type": "TentativeJoin" if tentative else "Join",
        "actor": row.actor.ap_id,
        "object": event.ap_id,
        "to": [event.group_actor.ap_id],
        "participationMessage": None,
    }
    publish(activity, actor=row.actor, inboxes=[event.group_actor.delivery_inbox], object_ap_id=event.ap_id)
    return activity_id


def send_leave(row: EventParticipation) -> None:
    """Send a local member's ``Leave`` of a remote event to its group."""
    event = row.event
    activity = {
        "@context": EVENT_CONTEXT,
        "id": new_activity_id(),
        "type": "Leave",
        "actor": row.actor.ap_id,
        "object": event.ap_id,
        "to": [event.group_actor.ap_id],
    }
    publish(activity, actor=row.actor, inboxes=[event.group_actor.delivery_inbox], object_ap_id=event.ap_id)


def send_answer(sender: Actor, participant: Actor, join: dict[str, Any], *, accept: bool) -> None:
    """``sender`` tells ``participant`` ``Accept`` or ``Reject`` of the RSVP ``join``."""
    activity = {
        "@context": EVENT_CONTEXT,
        "id": new_activity_id(),
        "type": "Accept" if accept else "Reject",
        "actor": sender.ap_id,
        "object": join,
        "to": [participant.ap_id],
    }
    publish(activity, actor=sender, inboxes=[participant.delivery_inbox])


def send_rsvp_answer(event: Event, participant: Actor, join_ap_id: str, *, accept: bool) -> None:
    """The event's group tells a remote participant ``Accept{Join}`` or ``Reject{Join}``."""
    join = {"id": join_ap_id, "type": "Join", "actor": participant.ap_id, "object": event.ap_id}
    send_answer(event.group_actor, participant, join, accept=accept)

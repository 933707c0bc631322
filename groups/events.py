"""Group events (Mobilizon's shape): the only write path for events and RSVPs.

Officers with the ``events`` permission create, update, cancel and delete their group's events;
members (local or remote) RSVP with ``join_event`` / ``leave_event`` (``groups/events_rsvp.py``).
A local member's RSVP to another node's event is sent as ``Join`` to that event's group and
stays pending until its ``Accept``. Federation happens after commit (``groups.federate_event`` and friends, in
``groups/events_ap.py``); reminders come from the beat task ``groups.event_reminders``.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.models import Actor, Follow, FollowState
from federation.sanitize import linkify_text
from federation.timescale import scaled
from groups import services as group_services
from groups.models import (
    Event,
    EventJoinMode,
    EventParticipation,
    EventStatus,
    EventVisibility,
    Group,
    ParticipationState,
)
from microblog.models import Notification, NotificationType
from microblog.notifications import is_silenced

MAX_NAME = 300
EDITABLE = (
    "name", "content", "start_at", "end_at", "timezone", "location_name", "street", "locality", "region",
    "postal_code", "country", "latitude", "longitude", "online_url", "join_mode", "max_capacity", "visibility",
    "status",
)  # fmt: skip


class EventError(ValueError):
    """Invalid event input or an RSVP that can't be taken (full, invite only, cancelled...)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def new_event_id() -> str:
    """A fresh opaque, stable id for an event of this node (``<base>/events/<uuid>``)."""
    return f"{settings.NODE_BASE_URL}/events/{uuid.uuid4().hex}"


def event_page_url(event: Event) -> str:
    """The HTML page of a local event."""
    return f"{settings.NODE_BASE_URL}/g/{event.group_actor.username}/events/{event.pk}"


def can_manage(actor: Actor | None, event: Event) -> bool:
    """True when ``actor`` is an officer of the (local) event's group holding ``events``."""
    return bool(actor and event.group_id and group_services.has_perm(actor, event.group, "events"))


def _clean(fields: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate and normalise event fields; raises :class:`EventError`."""
    out: dict[str, Any] = {}
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise EventError(_("unknown field %(field)s") % {"field": sorted(unknown)[0]}, field=sorted(unknown)[0])
    for key, value in fields.items():
        if isinstance(value, str) and key != "content":
            value = value.strip()
        out[key] = value
    if not partial or "name" in out:
        name = out.get("name") or ""
        if not name or len(name) > MAX_NAME:
            raise EventError(_("an event needs a name of at most 300 characters"), field="name")
    if not partial and not out.get("start_at"):
        raise EventError(_("an event needs a start time"), field="start_at")
    for key in ("start_at", "end_at"):
        value = out.get(key)
        if value is not None and (not isinstance(value, datetime) or timezone.is_naive(value)):
            raise EventError(_("times need a timezone"), field=key)
    if "timezone" in out:
        try:
            zoneinfo.ZoneInfo(out["timezone"] or "")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise EventError(_("unknown timezone"), field="timezone") from None
    if "join_mode" in out and out["join_mode"] not in EventJoinMode.values:
        raise EventError(_("join mode is free, restricted or invite"), field="join_mode")
    if "status" in out and out["status"] not in EventStatus.values:
        raise EventError(_("status is confirmed, tentative or cancelled"), field="status")
    if "visibility" in out and out["visibility"] not in EventVisibility.values:
        raise EventError(_("visibility is public or members"), field="visibility")
    if out.get("max_capacity") is not None:
        cap = out["max_capacity"]
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            raise EventError(_("capacity is a positive number, or empty for unlimited"), field="max_capacity")
    url = out.get("online_url") or ""
    if url and not url.lower().startswith(("https://", "http://")):
        raise EventError(_("the meeting link must be an http(s) URL"), field="online_url")
    for key, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
        value = out.get(key)
        if value is not None and not (isinstance(value, (int, float)) and low <= value <= high):
            raise EventError(_("%(field)s out of range") % {"field": key}, field=key)
    if "content" in out:
        out["content"] = linkify_text(out["content"] or "") if out["content"] else ""
    return out


def _check_times(event: Event) -> None:
    if event.end_at is not None and event.end_at < event.start_at:
        raise EventError(_("an event can't end before it starts"), field="end_at")


def _schedule(kind: str, event_id: int) -> None:
    from groups.events_ap import federate_event_task  # it imports this one (via events_rsvp)

    transaction.on_commit(lambda: federate_event_task.delay(event_id, kind))


def create_event(actor: Actor, group: Group, **fields: Any) -> Event:
    """Create an event of ``group`` organised by ``actor`` (an officer with ``events``); it is
    federated as ``Create{Event}`` to the group's followers after commit. ``content`` is plain
    text (linkified). Raises ``PermissionDenied`` or :class:`EventError`."""
    if not group_services.has_perm(actor, group, "events"):
        raise PermissionDenied("only officers may create events")
    data = _clean(fields)
    data.setdefault("timezone", "UTC")
    ap_id = new_event_id()
    with transaction.atomic():
        event = Event(group=group, group_actor=group.actor, organizer=actor, ap_id=ap_id, url="", local=True, **data)
        _check_times(event)
        event.save()
        event.url = event_page_url(event)
        event.save(update_fields=["url"])
        _schedule("Create", event.pk)
    return event


def update_event(actor: Actor, event: Event, **fields: Any) -> Event:
    """Change a local event (officers with ``events``); federated as ``Update{Event}``. Moving
    the start again clears the reminder, so the new time is reminded too."""
    if not event.local or not can_manage(actor, event):
        raise PermissionDenied("only officers may edit events")
    data = _clean(fields, partial=True)
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event.pk)
        if "start_at" in data and data["start_at"] != event.start_at:
            event.reminder_sent_at = None
        for key, value in data.items():
            setattr(event, key, value)
        _check_times(event)
        event.updated_at = timezone.now()
        event.save()
        _schedule("Update", event.pk)
    return event


def cancel_event(actor: Actor, event: Event) -> Event:
    """Mark a local event cancelled (Mobilizon sends this as ``Update`` with ``ical:status``
    CANCELLED); participants keep their rows so they see the cancellation."""
    return update_event(actor, event, status=EventStatus.CANCELLED)


def delete_event(actor: Actor, event: Event) -> None:
    """Delete a local event (officers); federated as ``Delete`` after commit, pending
    ``Create``/``Update`` deliveries of it are cancelled."""
    if not event.local or not can_manage(actor, event):
        raise PermissionDenied("only officers may delete events")
    from groups.events_ap import federate_delete_event

    with transaction.atomic():
        federate_delete_event(event)
        event.delete()


# --- visibility ------------------------------------------------------------------------------
def _follows(viewer: Actor, group_actor: Actor) -> bool:
    return Follow.objects.filter(follower=viewer, target=group_actor, state=FollowState.ACCEPTED).exists()


def can_see(viewer: Actor | None, event: Event) -> bool:
    """Public events to everyone; members-only ones to the group's members (remote groups: its
    accepted followers) and to the event's participants."""
    if event.visibility == EventVisibility.PUBLIC:
        return True
    if viewer is None:
        return False
    if event.group_id and group_services.is_member(viewer, event.group):
        return True
    if not event.local and _follows(viewer, event.group_actor):
        return True
    return EventParticipation.objects.filter(event=event, actor=viewer).exists()


def get_event_for(viewer: Actor | None, event_id: int) -> Event:
    """The event ``event_id`` if ``viewer`` may see it; ``Event.DoesNotExist`` when absent OR
    hidden (same answer)."""
    event = Event.objects.select_related("group", "group_actor", "organizer").get(pk=event_id)
    if not can_see(viewer, event):
        raise Event.DoesNotExist
    return event


def events_of(viewer: Actor | None, group_actor: Actor, *, upcoming: bool = False) -> QuerySet[Event]:
    """Events of a group that ``viewer`` may see, soonest first."""
    query = Event.objects.filter(group_actor=group_actor).select_related("group_actor", "organizer")
    member = group_services.is_member(viewer, group_actor)
    if not member and not (viewer is not None and not group_actor.local and _follows(viewer, group_actor)):
        visible = Q(visibility=EventVisibility.PUBLIC)
        if viewer is not None:
            visible |= Q(participations__actor=viewer)
        query = query.filter(visible).distinct()
    if upcoming:
        query = query.filter(Q(end_at__gte=timezone.now()) | Q(end_at__isnull=True, start_at__gte=timezone.now()))
    return query.order_by("start_at", "pk")


# --- reminders -------------------------------------------------------------------------------
def reminder_lead() -> timedelta:
    """How long before the start reminders go out (``GROUPS_EVENT_REMINDER_MINUTES``, default
    60), scaled by ``FEDERATION_TIME_SCALE`` like every other timer."""
    return scaled(timedelta(minutes=float(getattr(settings, "GROUPS_EVENT_REMINDER_MINUTES", 60))))


def send_reminders(now: datetime | None = None) -> int:
    """Notify local accepted participants (and the organiser) of events starting within the
    lead time; each event is claimed by one conditional UPDATE, so it is reminded exactly once
    however many beat runs overlap. Returns the number of notifications stored.

    Uses the ``status`` notification type with the group as sender (``NotificationType`` has no
    event type) and writes rows itself: ``notify`` deduplicates on (recipient, type, sender,
    post), which would swallow the second reminder of the same group."""
    now = now or timezone.now()
    due = Event.objects.filter(
        reminder_sent_at__isnull=True, start_at__gt=now, start_at__lte=now + reminder_lead()
    ).exclude(status=EventStatus.CANCELLED)
    sent = 0
    for event in due.select_related("group_actor", "organizer"):
        if not Event.objects.filter(pk=event.pk, reminder_sent_at__isnull=True).update(reminder_sent_at=now):
            continue  # another run claimed it
        recipients = {
            p.actor
            for p in event.participations.select_related("actor").filter(
                state__in=(ParticipationState.ACCEPTED, ParticipationState.TENTATIVE), actor__local=True
            )
        }
        if event.organizer is not None and event.organizer.local:
            recipients.add(event.organizer)
        for actor in recipients:
            if actor.pk == event.group_actor_id or is_silenced(actor, event.group_actor):
                continue
            Notification.objects.create(recipient=actor, type=NotificationType.STATUS, from_actor=event.group_actor)
            sent += 1
    return sent


@shared_task(name="groups.event_reminders", ignore_result=True)
def event_reminders_task() -> int:
    """Beat job (every minute, scaled): send due event reminders."""
    return send_reminders()


# --- calendar feeds --------------------------------------------------------------------------
def calendar_token_for(actor: Actor, group: Group) -> str:
    """The member's secret for the group's private calendar feed (created on first use);
    ``PermissionDenied`` for non-members."""
    import secrets

    from groups.models import CalendarToken

    if not group_services.is_member(actor, group):
        raise PermissionDenied("only members have a private calendar feed")
    row, _created = CalendarToken.objects.get_or_create(
        group=group, actor=actor, defaults={"token": secrets.token_urlsafe(24)}
    )
    return row.token


def feed_viewer(group: Group, token: str) -> Actor | None:
    """The member a private-feed token belongs to, if the token is valid and they still are a
    member; None otherwise (the public feed is served)."""
    from groups.models import CalendarToken

    row = CalendarToken.objects.select_related("actor").filter(group=group, token=token).first() if token else None
    if row is None or not group_services.is_member(row.actor, group):
        return None
    return row.actor

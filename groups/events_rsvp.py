"""RSVPs to group events: the only write path for participations.

Members (local or remote) RSVP with ``join_event`` / ``leave_event``; a local event decides at
once (``decide_rsvp``) under a lock on the event, a remote one is asked with ``Join`` and stays
pending until its group answers. Officers with ``events`` decide pending RSVPs. The events
themselves are in ``groups/events.py``; the activities in ``groups/events_ap.py``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.models import Actor
from groups import services as group_services
from groups.events import EventError, can_manage, can_see
from groups.models import (
    Event,
    EventJoinMode,
    EventParticipation,
    EventStatus,
    EventVisibility,
    ParticipationRole,
    ParticipationState,
)

SEATED = (ParticipationState.ACCEPTED,)
OPEN_RSVP = (ParticipationState.PENDING, ParticipationState.TENTATIVE, ParticipationState.ACCEPTED)


def participant_count(event: Event) -> int:
    """Accepted participants: counted here for local events, as announced for remote ones."""
    if not event.local:
        return event.remote_participant_count
    return event.participations.filter(state__in=SEATED, role=ParticipationRole.PARTICIPANT).count()


def remaining_capacity(event: Event) -> int | None:
    """Seats left (``None`` = unlimited)."""
    if event.max_capacity is None:
        return None
    return max(0, event.max_capacity - participant_count(event))


def decide_rsvp(event: Event, actor: Actor, *, tentative: bool = False) -> str:
    """The state a new RSVP to a local event gets: ``accepted`` (free mode, seats left),
    ``pending`` (restricted mode), ``tentative`` (a "maybe", never takes a seat) or
    ``rejected`` (cancelled, past, invite only, full, or members-only and not a member)."""
    if event.status == EventStatus.CANCELLED or (event.end_at or event.start_at) < timezone.now():
        return ParticipationState.REJECTED
    if event.join_mode == EventJoinMode.INVITE:
        return ParticipationState.REJECTED
    if event.visibility == EventVisibility.MEMBERS and not group_services.is_member(actor, event.group):
        return ParticipationState.REJECTED
    if tentative:
        return ParticipationState.TENTATIVE
    if remaining_capacity(event) == 0:
        return ParticipationState.REJECTED
    if event.join_mode == EventJoinMode.RESTRICTED:
        return ParticipationState.PENDING
    return ParticipationState.ACCEPTED


def _store(event: Event, actor: Actor, state: str, join_ap_id: str) -> EventParticipation:
    now = timezone.now()
    row, created = EventParticipation.objects.get_or_create(
        event=event,
        actor=actor,
        defaults={"state": state, "join_ap_id": join_ap_id, "created_at": now, "updated_at": now},
    )
    if not created:
        row.state, row.join_ap_id, row.updated_at = state, join_ap_id or row.join_ap_id, now
        row.save(update_fields=["state", "join_ap_id", "updated_at"])
    return row


def rsvp_local_event(
    event: Event, actor: Actor, *, join_ap_id: str = "", tentative: bool = False
) -> EventParticipation:
    """Record an RSVP (local or remote actor) to a local event, deciding its state under a lock
    on the event so two last-seat RSVPs can't both get it. An existing accepted/pending RSVP is
    returned unchanged (a repeated ``Join``)."""
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event.pk)
        existing = EventParticipation.objects.filter(event=event, actor=actor).first()
        if existing is not None and existing.state in (ParticipationState.ACCEPTED, ParticipationState.PENDING):
            if join_ap_id and existing.join_ap_id != join_ap_id:
                existing.join_ap_id = join_ap_id
                existing.save(update_fields=["join_ap_id"])
            return existing
        return _store(event, actor, decide_rsvp(event, actor, tentative=tentative), join_ap_id)


def join_event(actor: Actor, event: Event, *, tentative: bool = False) -> EventParticipation:
    """A local member RSVPs. Local event: decided at once (see :func:`decide_rsvp`); a rejected
    RSVP raises :class:`EventError` and stores nothing. Remote event: stored ``pending`` and a
    ``Join`` (or ``TentativeJoin``) is sent to the event's group until it answers."""
    if not can_see(actor, event):
        raise Event.DoesNotExist
    if event.local:
        with transaction.atomic():
            row = rsvp_local_event(event, actor, tentative=tentative)
            if row.state == ParticipationState.REJECTED:
                transaction.set_rollback(True)
                raise EventError(_why_rejected(event, actor))
        return row
    if event.status == EventStatus.CANCELLED:
        raise EventError(_("this event is cancelled"))
    from groups.events_ap import send_join

    with transaction.atomic():
        existing = EventParticipation.objects.filter(event=event, actor=actor).first()
        if existing is not None and existing.state in (ParticipationState.ACCEPTED, ParticipationState.PENDING):
            return existing
        row = _store(event, actor, ParticipationState.PENDING, "")
        row.join_ap_id = send_join(row, tentative=tentative)
        row.save(update_fields=["join_ap_id"])
    return row


def _why_rejected(event: Event, actor: Actor) -> str:
    if event.status == EventStatus.CANCELLED:
        return _("this event is cancelled")
    if (event.end_at or event.start_at) < timezone.now():
        return _("this event is over")
    if event.join_mode == EventJoinMode.INVITE:
        return _("this event is by invitation only")
    if event.visibility == EventVisibility.MEMBERS:
        return _("this event is for members only")
    return _("this event is full")


def leave_event(actor: Actor, event: Event) -> EventParticipation | None:
    """Withdraw ``actor``'s RSVP (state ``left``, seat freed); for a remote event a ``Leave``
    goes to its group. Returns the row, or None when there was no open RSVP."""
    with transaction.atomic():
        row = EventParticipation.objects.select_for_update().filter(event=event, actor=actor).first()
        if row is None or row.state not in OPEN_RSVP:
            return None
        row.state, row.updated_at = ParticipationState.LEFT, timezone.now()
        row.save(update_fields=["state", "updated_at"])
        if not event.local and actor.local:
            from groups.events_ap import send_leave

            send_leave(row)
    return row


def participants_for(viewer: Actor, event: Event) -> QuerySet[EventParticipation]:
    """All RSVPs of a local event with their actors, for officers with ``events`` only."""
    if not can_manage(viewer, event):
        raise PermissionDenied("only officers see the participant list")
    return event.participations.select_related("actor").order_by("created_at", "pk")


def decide_participation(officer: Actor, row: EventParticipation, *, accept: bool) -> EventParticipation:
    """An officer accepts or rejects a pending (or tentative) RSVP; a remote participant gets
    ``Accept{Join}``/``Reject{Join}``. Accepting past capacity raises :class:`EventError`."""
    event = row.event
    if not can_manage(officer, event):
        raise PermissionDenied("only officers decide on participants")
    with transaction.atomic():
        Event.objects.select_for_update().get(pk=event.pk)
        row = EventParticipation.objects.select_for_update().get(pk=row.pk)
        if row.state not in (ParticipationState.PENDING, ParticipationState.TENTATIVE, ParticipationState.ACCEPTED):
            raise EventError(_("this RSVP is no longer open"))
        if accept and row.state != ParticipationState.ACCEPTED and remaining_capacity(event) == 0:
            raise EventError(_("this event is full"))
        row.state = ParticipationState.ACCEPTED if accept else ParticipationState.REJECTED
        row.updated_at = timezone.now()
        row.save(update_fields=["state", "updated_at"])
        if not row.actor.local:
            from groups.events_ap import send_rsvp_answer

            send_rsvp_answer(event, row.actor, row.join_ap_id, accept=accept)
    return row

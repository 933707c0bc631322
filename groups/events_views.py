"""Event pages (``/g/<name>/events...``), iCalendar files (``/groups/<name>/events/<id>.ics``,
``/groups/<name>/calendar.ics``), the AS2 document of a local event (``/events/<uuid>``) and the
client API (``/api/v1/groups/:id/events``, ``/api/v1/events/:id...``). All writes go through
``groups.events``."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from federation.models import Actor
from federation.views import activity_json
from federation.vocab import wants_activitypub
from groups import events as services
from groups import events_rsvp as rsvp
from groups import ical
from groups.events_ap import event_to_ap
from groups.models import Event, EventParticipation, EventVisibility, Group
from groups.services import is_member
from microblog.api import errors
from microblog.api.auth import api_view, param_int, param_str, read_params

FIELDS = ("name", "content", "location_name", "street", "locality", "region", "postal_code", "country")
FIELDS += ("online_url", "join_mode", "visibility", "status", "timezone")


def _viewer(request: HttpRequest) -> Actor | None:
    user = getattr(request, "user", None)
    return getattr(user, "actor", None) if user is not None and user.is_authenticated else None


def _group(name: str) -> Group:
    return get_object_or_404(Group.objects.select_related("actor"), actor__username=name, actor__local=True)


def _when(value: Any, zone_name: str, field: str) -> datetime | None:
    """An aware datetime from ISO 8601 (an offset wins; a naive time is in the event's zone)."""
    text = param_str(value)
    if not text:
        return None
    parsed = parse_datetime(text)
    if parsed is None:
        raise services.EventError("not a date and time", field=field)
    if parsed.tzinfo is None:
        try:
            parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(zone_name or "UTC"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise services.EventError("unknown timezone", field="timezone") from None
    return parsed


def fields_from(params: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Event fields from form or API parameters (blank optional fields omitted when partial)."""
    out: dict[str, Any] = {}
    for key in FIELDS:
        if key in params and (not partial or params[key] not in (None, "")):
            out[key] = param_str(params[key])
    zone = out.get("timezone") or "UTC"
    for key, param in (("start_at", "start_at"), ("end_at", "end_at")):
        if param in params and params[param] not in (None, ""):
            out[key] = _when(params[param], zone, key)
    if "max_capacity" in params:
        raw = params["max_capacity"]
        out["max_capacity"] = None if raw in (None, "", 0, "0") else param_int(raw, -1)
    for key in ("latitude", "longitude"):
        if params.get(key) not in (None, ""):
            try:
                out[key] = float(params[key])
            except (TypeError, ValueError):
                raise services.EventError(f"{key} is a number", field=key) from None
    for key in ("join_mode", "visibility", "status"):
        if out.get(key) == "":
            out.pop(key)
    return out


# --- ActivityPub -----------------------------------------------------------------------------
@require_GET
def event_object(request: HttpRequest, event_uuid: str) -> HttpResponse:
    """A local public event as AS2 (members-only events: 404, fetches are not authorised)."""
    ap_id = f"{settings.NODE_BASE_URL}/events/{event_uuid}"
    event = Event.objects.select_related("group_actor", "organizer").filter(ap_id=ap_id, local=True).first()
    if event is None or event.visibility != EventVisibility.PUBLIC:
        raise Http404
    if not wants_activitypub(request.headers.get("Accept", "")):
        response = HttpResponseRedirect(event.url or "/")
        response["Vary"] = "Accept"
        return response
    return activity_json(event_to_ap(event))


# --- HTML ------------------------------------------------------------------------------------
def events_page(request: HttpRequest, name: str) -> HttpResponse:
    """A group's upcoming events (what the viewer may see), the feed links, the officers' form link."""
    group = _group(name)
    viewer = _viewer(request)
    context = {
        "group": group,
        "events": services.events_of(viewer, group.actor, upcoming=True)[:100],
        "can_create": services.group_services.has_perm(viewer, group, "events"),
        "feed_url": f"{settings.NODE_BASE_URL}/groups/{name}/calendar.ics",
        "private_feed_url": "",
    }
    if viewer is not None and is_member(viewer, group):
        token = services.calendar_token_for(viewer, group)
        context["private_feed_url"] = f"{context['feed_url']}?token={token}"
    return render(request, "groups/events/list.html", context)


@login_required
def event_new(request: HttpRequest, name: str) -> HttpResponse:
    """The officers' form to create an event."""
    group = _group(name)
    viewer = _viewer(request)
    if viewer is None or not services.group_services.has_perm(viewer, group, "events"):
        raise PermissionDenied
    error, values = "", request.POST if request.method == "POST" else {}
    if request.method == "POST":
        try:
            event = services.create_event(viewer, group, **fields_from(dict(request.POST.items())))
            return HttpResponseRedirect(event.url)
        except services.EventError as exc:
            error = str(exc)
    zones = ["UTC", "Asia/Shanghai", "Asia/Urumqi", "Europe/London"]
    return render(request, "groups/events/form.html", {"group": group, "error": error, "v": values, "zones": zones})


def _event_or_404(viewer: Actor | None, group: Group, event_id: int) -> Event:
    try:
        event = services.get_event_for(viewer, event_id)
    except Event.DoesNotExist:
        raise Http404 from None
    if event.group_id != group.pk:
        raise Http404
    return event


def event_page(request: HttpRequest, name: str, event_id: int) -> HttpResponse:
    """One event: details, the viewer's RSVP, and for officers the participant list."""
    group = _group(name)
    viewer = _viewer(request)
    event = _event_or_404(viewer, group, event_id)
    mine = EventParticipation.objects.filter(event=event, actor=viewer).first() if viewer else None
    manage = services.can_manage(viewer, event)
    context = {
        "group": group,
        "event": event,
        "mine": mine,
        "manage": manage,
        "participants": rsvp.participants_for(viewer, event) if manage and viewer else [],
        "count": rsvp.participant_count(event),
        "remaining": rsvp.remaining_capacity(event),
        "error": request.GET.get("error", "")[:200],
    }
    return render(request, "groups/events/detail.html", context)


@login_required
@require_POST
def event_action(request: HttpRequest, name: str, event_id: int, action: str) -> HttpResponse:
    """RSVP (``join``, ``maybe``, ``leave``) or, for officers, ``cancel``."""
    group = _group(name)
    viewer = _viewer(request)
    event = _event_or_404(viewer, group, event_id)
    if viewer is None:
        raise PermissionDenied
    try:
        if action in ("join", "maybe"):
            rsvp.join_event(viewer, event, tentative=action == "maybe")
        elif action == "leave":
            rsvp.leave_event(viewer, event)
        elif action == "cancel":
            services.cancel_event(viewer, event)
        else:
            raise Http404
    except services.EventError as exc:
        return HttpResponseRedirect(f"{event.url}?error={quote(str(exc))}")
    return HttpResponseRedirect(event.url)


@login_required
@require_POST
def participant_decide(
    request: HttpRequest, name: str, event_id: int, participation_id: int, decision: str
) -> HttpResponse:
    """An officer accepts or rejects an RSVP."""
    group = _group(name)
    viewer = _viewer(request)
    event = _event_or_404(viewer, group, event_id)
    row = get_object_or_404(EventParticipation, pk=participation_id, event=event)
    if decision not in ("accept", "reject") or viewer is None:
        raise Http404
    try:
        rsvp.decide_participation(viewer, row, accept=decision == "accept")
    except services.EventError as exc:
        return HttpResponseRedirect(f"{event.url}?error={quote(str(exc))}")
    return HttpResponseRedirect(event.url)


def _ics(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@require_GET
def event_ics(request: HttpRequest, name: str, event_id: int) -> HttpResponse:
    """One event as an iCalendar file (hidden events: 404)."""
    group = _group(name)
    event = _event_or_404(_viewer(request), group, event_id)
    return _ics(ical.calendar_bytes([event], name=event.name), f"event-{event.pk}.ics")


@require_GET
def group_calendar(request: HttpRequest, name: str) -> HttpResponse:
    """The group's calendar feed: public events; with a member's ``?token=`` (calendar apps
    can't log in) or a member's session, members-only events too."""
    group = _group(name)
    viewer = services.feed_viewer(group, request.GET.get("token", "")) or _viewer(request)
    events = services.events_of(viewer, group.actor).select_related("group_actor", "organizer")[:500]
    label = group.actor.name or group.actor.username
    return _ics(ical.calendar_bytes(events, name=label), f"{group.actor.username}.ics")


# --- client API ------------------------------------------------------------------------------
def event_json(event: Event, *, viewer: Actor | None) -> dict[str, Any]:
    """The API entity of an event (ids are strings of primary keys)."""
    mine = EventParticipation.objects.filter(event=event, actor=viewer).first() if viewer else None
    return {
        "id": str(event.pk),
        "uri": event.ap_id,
        "url": event.url or event.ap_id,
        "group_id": str(event.group_id) if event.group_id else None,
        "group_account_id": str(event.group_actor_id),
        "name": event.name,
        "content": event.content,
        "start_at": event.start_at.isoformat(),
        "end_at": event.end_at.isoformat() if event.end_at else None,
        "timezone": event.timezone,
        "location": {
            "name": event.location_name,
            "street": event.street,
            "locality": event.locality,
            "region": event.region,
            "postal_code": event.postal_code,
            "country": event.country,
            "latitude": event.latitude,
            "longitude": event.longitude,
        },
        "online_url": event.online_url or None,
        "join_mode": event.join_mode,
        "max_capacity": event.max_capacity,
        "participant_count": rsvp.participant_count(event),
        "remaining_capacity": rsvp.remaining_capacity(event),
        "status": event.status,
        "visibility": event.visibility,
        "local": event.local,
        "participation": mine.state if mine else None,
        "ics_url": f"{settings.NODE_BASE_URL}/groups/{event.group_actor.username}/events/{event.pk}.ics"
        if event.local
        else None,
    }


def _api_event(request: HttpRequest, event_id: int) -> Event:
    return services.get_event_for(request.actor, event_id)  # type: ignore[attr-defined]


@api_view({"GET": None, "POST": "write:statuses"}, methods=("GET", "POST"))
def api_group_events(request: HttpRequest, group_id: int) -> Any:
    """GET: the group's events the viewer may see (``upcoming=true`` to skip past ones).
    POST: an officer creates an event (422 on invalid input, 403 for others)."""
    group = Group.objects.select_related("actor").get(pk=group_id, actor__local=True)
    viewer = request.actor  # type: ignore[attr-defined]
    if request.method == "POST":
        try:
            event = services.create_event(viewer, group, **fields_from(read_params(request)))
        except services.EventError as exc:
            raise errors.ValidationFailed(str(exc)) from exc
        return event_json(event, viewer=viewer)
    upcoming = param_str(request.GET.get("upcoming")).lower() in ("1", "true")
    return [event_json(e, viewer=viewer) for e in services.events_of(viewer, group.actor, upcoming=upcoming)[:200]]


@api_view(None)
def api_event(request: HttpRequest, event_id: int) -> Any:
    """One event (404 when absent or hidden)."""
    return event_json(_api_event(request, event_id), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:statuses", methods=("POST",))
def api_event_join(request: HttpRequest, event_id: int) -> Any:
    """RSVP (``tentative=true`` for "maybe"); 422 when refused (full, invite only, cancelled)."""
    event = _api_event(request, event_id)
    tentative = param_str(read_params(request).get("tentative")).lower() in ("1", "true")
    try:
        rsvp.join_event(request.actor, event, tentative=tentative)  # type: ignore[attr-defined]
    except services.EventError as exc:
        raise errors.ValidationFailed(str(exc)) from exc
    return event_json(event, viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:statuses", methods=("POST",))
def api_event_leave(request: HttpRequest, event_id: int) -> Any:
    """Withdraw the viewer's RSVP."""
    event = _api_event(request, event_id)
    rsvp.leave_event(request.actor, event)  # type: ignore[attr-defined]
    return event_json(event, viewer=request.actor)  # type: ignore[attr-defined]


@api_view("read:statuses")
def api_event_participants(request: HttpRequest, event_id: int) -> Any:
    """All RSVPs of a local event: officers with the ``events`` permission only (403)."""
    event = _api_event(request, event_id)
    rows = rsvp.participants_for(request.actor, event)  # type: ignore[attr-defined]
    return [
        {
            "id": str(p.pk),
            "account_id": str(p.actor_id),
            "acct": p.actor.handle,
            "state": p.state,
            "role": p.role,
            "created_at": p.created_at.isoformat(),
        }
        for p in rows
    ]

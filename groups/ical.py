"""iCalendar (RFC 5545) export of group events: one event, or a group's feed a calendar app
subscribes to. UID is the event's ActivityPub id, so the same event keeps its identity in every
calendar and on every node; times carry their IANA ``TZID`` (with a VTIMEZONE) when the event
names one."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from federation.sanitize import plain_text
from groups.models import Event, EventStatus

if TYPE_CHECKING:
    from icalendar import Event as VEvent

PRODID = "-//Redcloud//groups events//EN"
STATUS = {EventStatus.CONFIRMED: "CONFIRMED", EventStatus.TENTATIVE: "TENTATIVE", EventStatus.CANCELLED: "CANCELLED"}


def _zone(event: Event) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(event.timezone) if event.timezone and event.timezone != "UTC" else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def location_text(event: Event) -> str:
    """One line for LOCATION: place name and address parts, or the meeting link when online."""
    parts = [event.location_name, event.street, event.postal_code, event.locality, event.region, event.country]
    text = ", ".join(p for p in parts if p)
    return text or event.online_url


def event_to_vevent(event: Event) -> VEvent:
    """A ``VEVENT`` with UID = ap_id, DTSTART/DTEND in the event's zone (TZID), SUMMARY,
    DESCRIPTION (plain text, meeting link appended), LOCATION, GEO, URL, STATUS, LAST-MODIFIED."""
    from icalendar import Event as VEvent  # imported on use: ~3 MB per process otherwise (bench B12)

    zone = _zone(event)
    vevent = VEvent()
    vevent.add("uid", event.ap_id)
    vevent.add("dtstamp", timezone.now())
    vevent.add("summary", event.name)
    start = event.start_at.astimezone(zone) if zone else event.start_at.astimezone(UTC)
    vevent.add("dtstart", start)
    if event.end_at is not None:
        vevent.add("dtend", event.end_at.astimezone(zone) if zone else event.end_at.astimezone(UTC))
    description = plain_text(event.content)
    if event.online_url:
        description = f"{description}\n\n{event.online_url}".strip()
    if description:
        vevent.add("description", description)
    location = location_text(event)
    if location:
        vevent.add("location", location)
    if event.latitude is not None and event.longitude is not None:
        vevent.add("geo", (event.latitude, event.longitude))
    if event.url or event.ap_id:
        vevent.add("url", event.url or event.ap_id)
    vevent.add("status", STATUS.get(event.status, "CONFIRMED"))
    vevent.add("last-modified", event.updated_at)
    if event.organizer is not None:
        vevent.add(
            "organizer",
            event.organizer.url or event.organizer.ap_id,
            parameters={"CN": event.organizer.name or event.organizer.username},
        )
    return vevent


def calendar_bytes(events: Iterable[Event], *, name: str = "") -> bytes:
    """A ``VCALENDAR`` holding ``events`` (with the VTIMEZONEs their TZIDs need)."""
    from icalendar import Calendar  # imported on use (bench B12)

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", timedelta(hours=1))
    for event in events:
        cal.add_component(event_to_vevent(event))
    cal.add_missing_timezones()
    return cal.to_ical()

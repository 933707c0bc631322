"""iCalendar export of events, the group feeds, the event pages and the events client API."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone
from icalendar import Calendar

from groups import events, events_rsvp
from groups.models import Event, EventParticipation

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _event(group, officer, **kwargs) -> Event:
    kwargs.setdefault("name", "Branch assembly")
    kwargs.setdefault("start_at", (timezone.now() + timedelta(days=2)).replace(microsecond=0))
    return events.create_event(officer, group, **kwargs)


def _vevents(body: bytes) -> list:
    return Calendar.from_ical(body).walk("VEVENT")


def test_event_ics_parses_with_tzid_location_and_uid(group, secretary):
    """One event's .ics parses and has UID = ap_id, DTSTART with its TZID, LOCATION, URL, STATUS."""
    start = datetime(2031, 7, 1, 19, 30, tzinfo=SHANGHAI)
    event = _event(
        group, secretary, name="Lecture", content="Bring notes\n\nSee https://docs.example/a", start_at=start,
        end_at=start + timedelta(hours=2), timezone="Asia/Shanghai", location_name="Village hall",
        locality="Mengla", country="China",
    )  # fmt: skip
    response = Client().get(f"/groups/{group.actor.username}/events/{event.pk}.ics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    [vevent] = _vevents(response.content)
    assert str(vevent["UID"]) == event.ap_id and str(vevent["SUMMARY"]) == "Lecture"
    assert vevent["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert vevent.decoded("DTSTART") == start and vevent.decoded("DTEND") == start + timedelta(hours=2)
    assert str(vevent["LOCATION"]) == "Village hall, Mengla, China"
    assert str(vevent["URL"]) == event.url and str(vevent["STATUS"]) == "CONFIRMED"
    assert event.content.startswith("<p>")  # stored as sanitised HTML
    assert str(vevent["DESCRIPTION"]).startswith("Bring notes") and "<" not in str(vevent["DESCRIPTION"])
    assert Calendar.from_ical(response.content).walk("VTIMEZONE")  # the TZID is defined


def test_public_feed_excludes_members_only_events(group, secretary):
    """The group's public calendar lists public events only; cancelled ones show as CANCELLED."""
    public = _event(group, secretary, name="Open day")
    _event(group, secretary, name="Committee", visibility="members")
    events.cancel_event(secretary, public)
    response = Client().get(f"/groups/{group.actor.username}/calendar.ics")
    assert response.status_code == 200
    vevents = _vevents(response.content)
    assert [str(v["SUMMARY"]) for v in vevents] == ["Open day"]
    assert str(vevents[0]["STATUS"]) == "CANCELLED"


def test_private_feed_token_includes_members_events(group, secretary, make_member, make_local_member):
    """A member's tokenized feed has members-only events; a wrong token gets the public feed."""
    ann = make_local_member("ann")
    make_member(group, ann)
    _event(group, secretary, name="Committee", visibility="members")
    token = events.calendar_token_for(ann, group)
    url = f"/groups/{group.actor.username}/calendar.ics"
    assert [str(v["SUMMARY"]) for v in _vevents(Client().get(url, {"token": token}).content)] == ["Committee"]
    assert _vevents(Client().get(url, {"token": "guess"}).content) == []


def test_members_only_event_ics_and_page_hidden_from_anonymous(group, secretary):
    """A members-only event's .ics, page and AS2 document answer 404 to strangers."""
    event = _event(group, secretary, visibility="members")
    client = Client()
    assert client.get(f"/groups/{group.actor.username}/events/{event.pk}.ics").status_code == 404
    assert client.get(f"/g/{group.actor.username}/events/{event.pk}").status_code == 404
    path = event.ap_id.split("://", 1)[1].split("/", 1)[1]
    assert client.get(f"/{path}", HTTP_ACCEPT="application/activity+json").status_code == 404


def test_event_page_and_as2_document_served(group, secretary):
    """A public event has an HTML page and its AS2 document at its id."""
    event = _event(group, secretary, name="Open day")
    client = Client()
    page = client.get(f"/g/{group.actor.username}/events/{event.pk}")
    assert page.status_code == 200 and "Open day" in page.content.decode()
    path = "/" + event.ap_id.split("://", 1)[1].split("/", 1)[1]
    doc = client.get(path, HTTP_ACCEPT="application/activity+json").json()
    assert doc["id"] == event.ap_id and doc["type"] == "Event"


def test_api_create_event_officer_only(group, secretary, make_member, make_local_member, api_for):
    """POST /api/v1/groups/:id/events: officers create (200), members get 403 and nothing is stored."""
    ann = make_local_member("ann")
    make_member(group, ann)
    body = {"name": "Assembly", "start_at": "2031-07-01T19:30:00", "timezone": "Asia/Shanghai", "max_capacity": 2}
    refused = api_for(ann).post(f"/api/v1/groups/{group.pk}/events", body)
    assert refused.status_code == 403 and not Event.objects.exists()
    created = api_for(secretary).post(f"/api/v1/groups/{group.pk}/events", body)
    assert created.status_code == 200, created.content
    data = created.json()
    assert data["start_at"] == "2031-07-01T19:30:00+08:00" and data["remaining_capacity"] == 2
    listed = api_for(ann).get(f"/api/v1/groups/{group.pk}/events").json()
    assert [e["id"] for e in listed] == [data["id"]]


def test_api_join_leave_and_participants(group, secretary, make_member, make_local_member, api_for):
    """Members RSVP via the API; only officers may list participants (403 otherwise)."""
    ann = make_local_member("ann")
    make_member(group, ann)
    event = _event(group, secretary)
    client = api_for(ann)
    joined = client.post(f"/api/v1/events/{event.pk}/join")
    assert joined.status_code == 200 and joined.json()["participation"] == "accepted"
    assert client.get(f"/api/v1/events/{event.pk}/participants").status_code == 403
    rows = api_for(secretary).get(f"/api/v1/events/{event.pk}/participants").json()
    assert [r["account_id"] for r in rows] == [str(ann.pk)]
    left = client.post(f"/api/v1/events/{event.pk}/leave")
    assert left.json()["participation"] == "left" and EventParticipation.objects.get(actor=ann).state == "left"


def test_api_join_full_event_422_nothing_stored(group, secretary, make_member, make_local_member, api_for):
    """An RSVP to a full event answers 422 and stores no participation."""
    ann, ben = make_local_member("ann"), make_local_member("ben")
    make_member(group, ann)
    make_member(group, ben)
    event = _event(group, secretary, max_capacity=1)
    events_rsvp.join_event(ann, event)
    response = api_for(ben).post(f"/api/v1/events/{event.pk}/join")
    assert response.status_code == 422 and not EventParticipation.objects.filter(actor=ben).exists()


def test_officer_creates_event_from_form_and_member_rsvps_on_page(group, secretary, make_member, make_local_member):
    """The HTML form creates an event for officers (403 for members); a member joins from its page."""
    ann = make_local_member("ann")
    make_member(group, ann)
    name = group.actor.username
    member = Client()
    member.force_login(ann.user)
    assert member.get(f"/g/{name}/events/new").status_code == 403
    officer = Client()
    officer.force_login(secretary.user)
    form = {"name": "Lecture", "start_at": "2031-07-01T19:30", "timezone": "Asia/Shanghai", "join_mode": "free",
            "visibility": "public", "max_capacity": ""}  # fmt: skip
    response = officer.post(f"/g/{name}/events/new", form)
    event = Event.objects.get(name="Lecture")
    assert response.status_code == 302 and event.start_at == datetime(2031, 7, 1, 19, 30, tzinfo=SHANGHAI)
    listing = member.get(f"/g/{name}/events").content.decode()
    assert "Lecture" in listing and "calendar.ics?token=" in listing
    assert member.post(f"/g/{name}/events/{event.pk}/join").status_code == 302
    assert EventParticipation.objects.get(actor=ann).state == "accepted"
    page = officer.get(f"/g/{name}/events/{event.pk}").content.decode()
    assert ann.handle in page

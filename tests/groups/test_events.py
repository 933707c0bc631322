"""Group events: services, the Mobilizon wire shape, RSVPs (local and federated), reminders, API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from federation import registry
from federation.models import Actor, ActorType, Delivery, OutboxActivity
from groups import events, events_rsvp
from groups.events_ap import event_fields, event_to_ap, federate_event
from groups.models import Event, EventParticipation
from microblog.models import Notification

pytestmark = pytest.mark.django_db


def _sent(kind: str) -> list[tuple[dict, list[str]]]:
    """Stored outgoing activities of ``kind`` with their delivery inboxes."""
    out = []
    for row in OutboxActivity.objects.filter(type=kind).order_by("pk"):
        out.append((row.body, list(Delivery.objects.filter(activity=row).values_list("inbox_url", flat=True))))
    return out


def _event(group, officer, **kwargs) -> Event:
    kwargs.setdefault("name", "Branch assembly")
    kwargs.setdefault("start_at", timezone.now() + timedelta(days=2))
    return events.create_event(officer, group, **kwargs)


def _load(fixture_path, name: str) -> dict:
    return json.loads(fixture_path(name).read_text())


def test_create_event_by_officer_federates_create_to_remote_members(
    group, secretary, make_member, make_remote_actor, django_capture_on_commit_callbacks
):
    """An officer's event is stored and, after commit, sent as Create{Event} to remote members."""
    bob, _ = make_remote_actor("bob")
    make_member(group, bob)
    with django_capture_on_commit_callbacks() as callbacks:
        event = _event(group, secretary, timezone="Asia/Shanghai", location_name="Village hall")
    for cb in callbacks:
        cb()
    assert event.local and event.organizer == secretary and event.url.endswith(f"/events/{event.pk}")
    [(activity, inboxes)] = _sent("Create")
    assert activity["object"]["type"] == "Event" and activity["actor"] == group.actor.ap_id
    assert inboxes == [bob.delivery_inbox]


def test_create_event_refused_for_plain_member(group, make_member, make_local_member):
    """A member without the events permission can't create events and nothing is stored or sent."""
    carol = make_local_member("carol")
    make_member(group, carol)
    with pytest.raises(PermissionDenied):
        _event(group, carol)
    assert Event.objects.count() == 0 and OutboxActivity.objects.count() == 0


def test_create_event_invalid_input_refused(group, secretary):
    """End before start and unknown time zones are refused with a field name."""
    start = timezone.now() + timedelta(days=1)
    with pytest.raises(events.EventError) as exc:
        _event(group, secretary, start_at=start, end_at=start - timedelta(hours=1))
    assert exc.value.field == "end_at"
    with pytest.raises(events.EventError):
        _event(group, secretary, timezone="Mars/Olympus")
    assert Event.objects.count() == 0


def test_event_to_ap_has_mobilizon_fields(group, secretary, fixture_path):
    """Our Event carries the fields Mobilizon's Event has, with the same value shapes."""
    mobilizon = _load(fixture_path, "mobilizon/event.json")
    event = _event(
        group, secretary, timezone="Asia/Shanghai", location_name="Hall", street="1 Road", locality="Town",
        country="China", latitude=25.0, longitude=100.5, max_capacity=30, visibility="public",
    )  # fmt: skip
    doc = event_to_ap(event)
    for key in ("id", "type", "name", "content", "startTime", "endTime", "timezone", "joinMode", "url",
                "maximumAttendeeCapacity", "remainingAttendeeCapacity", "participantCount", "ical:status",
                "attributedTo", "to", "cc", "location", "isOnline"):  # fmt: skip
        assert key in mobilizon and key in doc, key
    assert doc["location"]["type"] == mobilizon["location"]["type"] == "Place"
    assert set(doc["location"]["address"]) == set(mobilizon["location"]["address"])
    assert doc["attributedTo"] == group.actor.ap_id and doc["ical:status"] == "CONFIRMED"
    assert doc["maximumAttendeeCapacity"] == 30 and doc["remainingAttendeeCapacity"] == 30
    assert doc["timezone"] == "Asia/Shanghai" and doc["isOnline"] is False


def test_online_event_carries_meeting_link_as_website_attachment(group, secretary):
    """A video meeting is isOnline with the link as a Link attachment named "Website" (Mobilizon)."""
    event = _event(group, secretary, online_url="https://meet.example/abc")
    doc = event_to_ap(event)
    assert doc["isOnline"] is True and "location" not in doc
    assert {"type": "Link", "name": "Website", "href": "https://meet.example/abc", "mediaType": "text/html"} in doc[
        "attachment"
    ]
    assert event_fields(doc)["online_url"] == "https://meet.example/abc"


def _mobilizon_actors() -> tuple[Actor, Actor]:
    common = {"local": False, "domain": "rendezvous.nomagic.uk", "inbox_url": "https://rendezvous.nomagic.uk/inbox"}
    person = Actor.objects.create(ap_id="https://rendezvous.nomagic.uk/@emorrp1", username="emorrp1", **common)
    grp = Actor.objects.create(
        ap_id="https://rendezvous.nomagic.uk/@devon_caledonian_society",
        username="devon_caledonian_society",
        type=ActorType.GROUP,
        **common,
    )
    return person, grp


def test_inbound_create_mobilizon_event_stored(fixture_path):
    """Mobilizon's Event (sent by its organiser, attributed to its group) is stored with its place."""
    person, grp = _mobilizon_actors()
    data = _load(fixture_path, "mobilizon/event.json")
    activity = {"id": data["id"] + "#create", "type": "Create", "actor": person.ap_id, "object": data}
    registry.handler_for("Create", "Event")(activity, person)
    event = Event.objects.get(ap_id=data["id"])
    assert (event.local, event.group_actor, event.organizer) == (False, grp, person)
    assert event.name == "Caledonian scottish dance class" and event.timezone == "Europe/London"
    assert event.start_at.isoformat() == "2022-12-11T19:00:00+00:00"
    assert (event.location_name, event.postal_code, event.locality) == ("The Kenn Centre", "EX6 7TW", "Teignbridge")
    assert round(event.latitude, 3) == 50.669 and event.max_capacity is None and event.visibility == "public"
    assert "<p>£6 each.</p>" in event.content and 'target="_blank"' not in event.content


def test_inbound_event_from_other_host_rejected(fixture_path, make_remote_actor):
    """An Event whose id is on another host than the sender is refused and not stored."""
    from federation.inbound import Reject

    mallory, _ = make_remote_actor("mallory", domain="evil.example")
    data = _load(fixture_path, "mobilizon/event.json")
    with pytest.raises(Reject):
        registry.handler_for("Create", "Event")({"type": "Create", "actor": mallory.ap_id, "object": data}, mallory)
    assert not Event.objects.exists()


def test_rsvp_free_accepts_until_full_then_rejects(group, secretary, make_member, make_local_member):
    """Free mode accepts at once while seats remain; the next RSVP is refused and not stored."""
    event = _event(group, secretary, max_capacity=1)
    a, b = make_local_member("ann"), make_local_member("ben")
    make_member(group, a)
    make_member(group, b)
    assert events_rsvp.join_event(a, event).state == "accepted"
    with pytest.raises(events.EventError):
        events_rsvp.join_event(b, event)
    assert not EventParticipation.objects.filter(actor=b).exists()
    events_rsvp.leave_event(a, event)
    assert events_rsvp.join_event(b, event).state == "accepted"  # the seat freed by leaving is taken


def test_rsvp_restricted_pending_until_officer_accepts(group, secretary, make_member, make_local_member):
    """Restricted mode keeps RSVPs pending; only officers decide, and see the participant list."""
    event = _event(group, secretary, join_mode="restricted")
    ann = make_local_member("ann")
    make_member(group, ann)
    row = events_rsvp.join_event(ann, event)
    assert row.state == "pending"
    with pytest.raises(PermissionDenied):
        events_rsvp.decide_participation(ann, row, accept=True)
    with pytest.raises(PermissionDenied):
        events_rsvp.participants_for(ann, event)
    assert events_rsvp.decide_participation(secretary, row, accept=True).state == "accepted"
    assert [p.actor for p in events_rsvp.participants_for(secretary, event)] == [ann]


def _join(remote, event, suffix="1") -> dict:
    return {"id": f"{remote.ap_id}/join/{suffix}", "type": "Join", "actor": remote.ap_id, "object": event.ap_id}


def test_inbound_join_free_event_accepted_with_accept(group, secretary, make_remote_actor):
    """A remote Join of a free public event is stored accepted and answered with Accept{Join}."""
    bob, _ = make_remote_actor("bob")
    event = _event(group, secretary)
    registry.handler_for("Join", None)(_join(bob, event), bob)
    assert EventParticipation.objects.get(event=event, actor=bob).state == "accepted"
    [(accept, inboxes)] = _sent("Accept")
    assert accept["object"]["id"] == f"{bob.ap_id}/join/1" and accept["actor"] == group.actor.ap_id
    assert inboxes == [bob.delivery_inbox]


def test_inbound_join_full_event_rejected_with_reject(
    group, secretary, make_remote_actor, make_member, make_local_member
):
    """A remote Join of a full event gets Reject{Join}; no seat is taken and no Accept sent."""
    bob, _ = make_remote_actor("bob")
    event = _event(group, secretary, max_capacity=1)
    ann = make_local_member("ann")
    make_member(group, ann)
    events_rsvp.join_event(ann, event)
    registry.handler_for("Join", None)(_join(bob, event), bob)
    assert events_rsvp.participant_count(event) == 1
    assert not _sent("Accept") and [b["type"] for b, _ in _sent("Reject")] == ["Reject"]
    assert EventParticipation.objects.get(actor=bob).state == "rejected"


def test_inbound_unparseable_join_answered_with_reject(make_remote_actor):
    """A Join we can't tie to an event (object a list) is answered with Reject, nothing stored."""
    bob, _ = make_remote_actor("bob")
    activity = {"id": f"{bob.ap_id}/join/x", "type": "Join", "actor": bob.ap_id, "object": ["a", "b"]}
    registry.handler_for("Join", None)(activity, bob)
    [(reject, inboxes)] = _sent("Reject")
    assert reject["object"]["id"] == activity["id"] and inboxes == [bob.delivery_inbox]
    assert not EventParticipation.objects.exists()


def test_mobilizon_join_fixture_with_foreign_id_rejected(group, secretary, fixture_path):
    """Mobilizon's Join (id on another host than its actor) is answered with Reject, not stored."""
    data = _load(fixture_path, "mobilizon/join.json")
    tcit = Actor.objects.create(
        ap_id=data["actor"], username="tcit", domain="mobilizon.org", inbox_url="https://mobilizon.org/inbox"
    )
    event = _event(group, secretary)
    data["object"] = event.ap_id
    registry.handler_for("Join", None)(data, tcit)
    assert [b["object"]["id"] for b, _ in _sent("Reject")] == [data["id"]]
    assert not EventParticipation.objects.exists()


def test_mobilizon_leave_fixture_frees_seat(group, secretary, fixture_path):
    """Mobilizon's Leave of our event marks the actor's RSVP left."""
    data = _load(fixture_path, "mobilizon/leave.json")
    admin = Actor.objects.create(
        ap_id=data["actor"], username="admin", domain="mobilizon2.test", inbox_url="http://mobilizon2.test/inbox"
    )
    event = _event(group, secretary)
    registry.handler_for("Join", None)(_join(admin, event), admin)
    data["object"] = event.ap_id
    registry.handler_for("Leave", None)(data, admin)
    assert EventParticipation.objects.get(actor=admin).state == "left" and events_rsvp.participant_count(event) == 0


def test_local_member_joins_remote_event_pending_until_mobilizon_accept(local_member, fixture_path):
    """Our member's RSVP to a remote event sends Join to its group and turns accepted on Accept{Join}."""
    accept = _load(fixture_path, "mobilizon/accept_join.json")
    host = "mobilizon.org"  # the fixture's event host rewritten to its actor's (see fixtures README)
    organiser = Actor.objects.create(
        ap_id=accept["actor"], username="tcit", domain=host, inbox_url=f"https://{host}/inbox"
    )
    grp = Actor.objects.create(
        ap_id=f"https://{host}/@grp",
        username="grp",
        domain=host,
        type=ActorType.GROUP,
        inbox_url=f"https://{host}/@grp/inbox",
    )
    event = Event.objects.create(
        group_actor=grp,
        ap_id=f"https://{host}/events/e1",
        local=False,
        name="Remote",
        start_at=timezone.now() + timedelta(days=1),
    )
    row = events_rsvp.join_event(local_member, event)
    [(join, inboxes)] = _sent("Join")
    assert row.state == "pending" and join["object"] == event.ap_id and inboxes == [grp.inbox_url]
    accept["object"].update(id=join["id"], actor=local_member.ap_id, object=event.ap_id)
    registry.handler_for("Accept", "Join")(accept, organiser)
    row.refresh_from_db()
    assert row.state == "accepted"


def test_reminders_sent_once(group, secretary, make_member, make_local_member, settings):
    """Participants of an event starting within the lead time are notified once, not again."""
    settings.GROUPS_EVENT_REMINDER_MINUTES = 60
    ann = make_local_member("ann")
    make_member(group, ann)
    soon = _event(group, secretary, start_at=timezone.now() + timedelta(minutes=30))
    later = _event(group, secretary, name="Later", start_at=timezone.now() + timedelta(days=3))
    events_rsvp.join_event(ann, soon)
    events_rsvp.join_event(ann, later)
    assert events.send_reminders() == 2  # ann and the organiser
    assert events.send_reminders() == 0
    assert Notification.objects.filter(recipient=ann, from_actor=group.actor).count() == 1
    soon.refresh_from_db()
    later.refresh_from_db()
    assert soon.reminder_sent_at is not None and later.reminder_sent_at is None


def test_members_only_event_hidden_from_outsiders(group, secretary, make_local_member):
    """A members-only event is invisible to non-members and refuses their RSVP."""
    event = _event(group, secretary, visibility="members")
    eve = make_local_member("eve")
    with pytest.raises(Event.DoesNotExist):
        events.get_event_for(eve, event.pk)
    with pytest.raises(Event.DoesNotExist):
        events_rsvp.join_event(eve, event)
    assert list(events.events_of(None, group.actor)) == [] and not EventParticipation.objects.exists()


def test_federate_event_is_idempotent_per_version(group, secretary, make_member, make_remote_actor):
    """Publishing the same version twice stores one activity."""
    bob, _ = make_remote_actor("bob")
    make_member(group, bob)
    event = _event(group, secretary)
    federate_event(event, "Create")
    federate_event(event, "Create")
    assert len(_sent("Create")) == 1

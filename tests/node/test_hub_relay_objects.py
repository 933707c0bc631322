"""Relay completeness: group events and course publications are stored where they are relayed
and passed on upward, so they reach the province through a prefecture."""

from __future__ import annotations

import pytest

from federation import registry
from federation.models import Actor, ActorType, Delivery, OutboxActivity
from groups.models import Event
from learning.models import SharedCourse
from node import hub_relay
from node.models import NodeRelation, RelationDirection, RelationState, RelayedObject

AS2 = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture
def county(settings, fake_server, make_remote_actor, parent):
    """A child county on the loopback fake server: its instance actor (an accepted child) and a
    group, with a public event and a course served from there."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    host = fake_server.netloc
    child, _ = make_remote_actor("instance.actor", domain=host, scheme="http", type=ActorType.APPLICATION)
    NodeRelation.objects.create(
        actor=child, direction=RelationDirection.CHILD, state=RelationState.ACCEPTED, domain=child.domain
    )
    group, _ = make_remote_actor("volunteers", domain=host, scheme="http", type=ActorType.GROUP)
    event = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": fake_server.url("/events/1"),
        "type": "Event",
        "name": "五华区社区义诊",
        "startTime": "2030-05-01T09:00:00+08:00",
        "endTime": "2030-05-01T12:00:00+08:00",
        "attributedTo": group.ap_id,
        "to": [PUBLIC],
        "cc": [],
    }
    course = {
        "@context": ["https://www.w3.org/ns/activitystreams", {"redcloud": "https://redcloud.example/ns#"}],
        "id": fake_server.url("/courses/1"),
        "type": ["redcloud:Course", "Document"],
        "name": "基层党建实务",
        "attributedTo": child.ap_id,
        "published": "2030-01-01T00:00:00Z",
        "updated": "2030-01-01T00:00:00Z",
        "to": [PUBLIC],
        "redcloud:credits": 2,
        "redcloud:lessons": {
            "type": "OrderedCollection",
            "orderedItems": [{"id": fake_server.url("/courses/1/lessons/1"), "type": "Article", "name": "第一课"}],
        },
    }
    fake_server.route("GET", "/events/1", json=event, headers={"Content-Type": AS2})
    fake_server.route("GET", "/courses/1", json=course, headers={"Content-Type": AS2})
    return child, event, course


def _relays() -> list[OutboxActivity]:
    return list(OutboxActivity.objects.filter(type="Announce", actor__username="instance.actor", actor__local=True))


def _announce(child: Actor, object_id: str, n: int) -> dict:
    return {
        "id": f"{child.ap_id}/relay/{n}",
        "type": "Announce",
        "actor": child.ap_id,
        "object": object_id,
        "to": [PUBLIC],
    }


def _to_parent(relay: OutboxActivity) -> list[str]:
    return list(Delivery.objects.filter(activity=relay).values_list("domain", flat=True))


def test_relayed_event_stored_and_passed_up_once(county, hold_deliveries, django_capture_on_commit_callbacks):
    """A relayed group event is fetched from its origin, stored as the group's event, and passed up once."""
    child, event, _ = county
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Announce", None)(_announce(child, event["id"], 1), child)
        registry.handler_for("Announce", None)(_announce(child, event["id"], 2), child)
    stored = Event.objects.get(ap_id=event["id"])
    assert stored.name == "五华区社区义诊" and not stored.local and stored.visibility == "public"
    assert stored.group_actor.username == "volunteers"
    relays = _relays()
    assert len(relays) == 1 and relays[0].body["object"] == event["id"]
    assert _to_parent(relays[0]) == ["province.example"]


def test_relayed_event_deleted_at_origin_removed_and_passed_up(
    county, fake_server, hold_deliveries, django_capture_on_commit_callbacks
):
    """When the origin answers 410 for a relayed event we stored, our copy goes and the deletion goes up."""
    child, event, _ = county
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Announce", None)(_announce(child, event["id"], 1), child)
    assert Event.objects.filter(ap_id=event["id"]).exists()
    fake_server.route("GET", "/events/1", status=410)
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Announce", None)(_announce(child, event["id"], 2), child)
    assert not Event.objects.filter(ap_id=event["id"]).exists()
    assert RelayedObject.objects.get(object_ap_id=event["id"]).deleted
    assert len(_relays()) == 2  # the event, then its deletion, each passed up once


def test_child_instance_actor_course_stored_and_passed_up_once(
    county, hold_deliveries, django_capture_on_commit_callbacks
):
    """A child's own Create{Course} joins our catalog and goes up as Announce{course id}, once."""
    child, _, course = county
    create = {"id": f"{course['id']}#create", "type": "Create", "actor": child.ap_id, "object": course, "to": [PUBLIC]}
    handler = registry.handler_for("Create", "redcloud:Course")
    with django_capture_on_commit_callbacks(execute=True):
        handler(create, child)
        handler({**create, "id": f"{course['id']}#again"}, child)
    assert SharedCourse.objects.get(ap_id=course["id"]).publisher == child
    relays = _relays()
    assert len(relays) == 1 and relays[0].body["object"] == course["id"]
    assert _to_parent(relays[0]) == ["province.example"]
    assert RelayedObject.objects.get().object_type == "redcloud:Course"


def test_course_from_a_non_child_not_passed_up(county, hold_deliveries, django_capture_on_commit_callbacks):
    """A course from a node that is not our child is catalogued but not relayed upward."""
    child, _, course = county
    NodeRelation.objects.filter(actor=child).update(state=RelationState.PENDING)
    create = {"id": f"{course['id']}#create", "type": "Create", "actor": child.ap_id, "object": course, "to": [PUBLIC]}
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Create", "redcloud:Course")(create, child)
    assert SharedCourse.objects.filter(ap_id=course["id"]).exists()
    assert _relays() == []


def test_relayed_course_from_grandchild_stored_in_catalog(
    county, fake_server, make_remote_actor, hold_deliveries, django_capture_on_commit_callbacks
):
    """At the province: a prefecture relays a county's course; it is fetched from the county and catalogued."""
    county_actor, _, course = county
    prefecture, _ = make_remote_actor("instance.actor", domain="prefecture.example", type=ActorType.APPLICATION)
    NodeRelation.objects.create(
        actor=prefecture, direction=RelationDirection.CHILD, state=RelationState.ACCEPTED, domain=prefecture.domain
    )
    NodeRelation.objects.filter(actor=county_actor).delete()  # the county is a grandchild here
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Announce", None)(_announce(prefecture, course["id"], 1), prefecture)
    shared = SharedCourse.objects.get(ap_id=course["id"])
    assert shared.publisher == county_actor and shared.title == "基层党建实务"
    assert fake_server.requests_to("/courses/1", "GET")


def test_relay_key_tells_update_versions_apart_without_timestamps():
    """Two Updates of an object without ``updated`` (Mobilizon-style events) relay as two versions."""
    obj = {"id": "https://n/events/1", "type": "Event", "to": [PUBLIC]}
    first = hub_relay.relay_key({"id": "https://n/events/1#update-1", "type": "Update", "to": [PUBLIC], "object": obj})
    second = hub_relay.relay_key({"id": "https://n/events/1#update-2", "type": "Update", "to": [PUBLIC], "object": obj})
    assert first and second and first[0] == second[0] and first[1] != second[1]


def test_relayed_course_withdrawn_when_origin_says_gone(
    county, fake_server, make_remote_actor, hold_deliveries, django_capture_on_commit_callbacks
):
    """At the province: once the county archives its course (404 at the origin), a new relay withdraws it from the catalog."""
    county_actor, _, course = county
    prefecture, _ = make_remote_actor("instance.actor", domain="prefecture.example", type=ActorType.APPLICATION)
    NodeRelation.objects.create(
        actor=prefecture, direction=RelationDirection.CHILD, state=RelationState.ACCEPTED, domain=prefecture.domain
    )
    NodeRelation.objects.filter(actor=county_actor).delete()
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Announce", None)(_announce(prefecture, course["id"], 1), prefecture)
    fake_server.route("GET", "/courses/1", status=404, json={"error": "not found"})
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Announce", None)(_announce(prefecture, course["id"], 2), prefecture)
    assert SharedCourse.objects.get(ap_id=course["id"]).withdrawn
    assert RelayedObject.objects.get(object_ap_id=course["id"]).deleted


def test_new_poll_results_relay_as_a_new_version(
    county, fake_server, hold_deliveries, django_capture_on_commit_callbacks
):
    """A poll whose totals changed (same ``published``, no ``updated``) is stored anew and passed up again."""
    from microblog.models import Poll

    child, _, _ = county
    author = child.ap_id.replace("instance.actor", "alice")
    fake_server.route(
        "GET",
        "/users/alice",
        json={
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": author,
            "type": "Person",
            "preferredUsername": "alice",
            "inbox": f"{author}/inbox",
            "publicKey": {"id": f"{author}#main-key", "owner": author, "publicKeyPem": child.public_key_pem},
        },
        headers={"Content-Type": AS2},
    )

    def question(votes: int) -> dict:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": fake_server.url("/statuses/7"),
            "type": "Question",
            "attributedTo": author,
            "content": "<p>哪天开会？</p>",
            "published": "2030-01-01T00:00:00Z",
            "to": [PUBLIC],
            "oneOf": [
                {"type": "Note", "name": "周五", "replies": {"type": "Collection", "totalItems": votes}},
                {"type": "Note", "name": "周六", "replies": {"type": "Collection", "totalItems": 0}},
            ],
            "votersCount": votes,
            "endTime": "2030-02-01T00:00:00Z",
        }

    fake_server.route("GET", "/statuses/7", json=question(0), headers={"Content-Type": AS2})
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Announce", None)(_announce(child, question(0)["id"], 1), child)
    fake_server.route("GET", "/statuses/7", json=question(1), headers={"Content-Type": AS2})
    with django_capture_on_commit_callbacks(execute=True):
        registry.handler_for("Announce", None)(_announce(child, question(1)["id"], 2), child)
    assert Poll.objects.get(post__ap_id=question(1)["id"]).voters_count == 1
    assert len(_relays()) == 2  # the poll, then its new results

"""Client API notifications: list with type/account filters and pagination, show, dismiss,
clear, and their scopes."""

from __future__ import annotations

import pytest
from django.test import Client

from microblog.models import Notification

pytestmark = pytest.mark.django_db

# The Notification entity (docs.joinmastodon.org/entities/Notification).
NOTIFICATION_KEYS = {"id", "type", "created_at", "account", "status", "group_key"}


def post_status(client: Client, **data) -> dict:
    response = client.post("/api/v1/statuses", data)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def activity(alice, bob, carol, api_as, django_capture_on_commit_callbacks) -> dict[str, str]:
    """alice posts; bob likes it, carol likes it, and bob replies mentioning her."""
    status = post_status(api_as(alice), status="hello")
    api_as(bob).post(f"/api/v1/statuses/{status['id']}/favourite")
    api_as(carol).post(f"/api/v1/statuses/{status['id']}/favourite")
    with django_capture_on_commit_callbacks(execute=True):
        reply = post_status(api_as(bob), status="@alice hi", in_reply_to_id=status["id"])
    return {"status": status["id"], "reply": reply["id"]}


def test_notifications_list_newest_first_with_entity_keys(alice, activity, api_as):
    """Likes and the mention arrive newest first, shaped as Mastodon's Notification entity."""
    response = api_as(alice).get("/api/v1/notifications")
    assert response.status_code == 200
    data = response.json()
    assert [n["type"] for n in data] == ["mention", "favourite", "favourite"]
    assert all(NOTIFICATION_KEYS <= set(n) for n in data)
    assert data[0]["status"]["id"] == activity["reply"] and data[0]["account"]["username"] == "bob"
    assert data[1]["account"]["username"] == "carol" and data[1]["status"]["id"] == activity["status"]


def test_notifications_filter_by_types_exclude_types_and_account(alice, bob, activity, api_as):
    """``types[]``, ``exclude_types[]`` and ``account_id`` narrow the list."""
    client = api_as(alice)
    only_likes = client.get("/api/v1/notifications", {"types[]": ["favourite"]}).json()
    assert [n["type"] for n in only_likes] == ["favourite", "favourite"]
    no_likes = client.get("/api/v1/notifications", {"exclude_types[]": ["favourite"]}).json()
    assert [n["type"] for n in no_likes] == ["mention"]
    from_bob = client.get("/api/v1/notifications", {"account_id": str(bob.pk)}).json()
    assert {n["account"]["id"] for n in from_bob} == {str(bob.pk)} and len(from_bob) == 2


def test_notifications_paginate_with_link_header(alice, activity, api_as):
    """``limit`` and the ``Link`` header page through notifications."""
    client = api_as(alice)
    first = client.get("/api/v1/notifications", {"limit": 2})
    assert len(first.json()) == 2
    oldest_id = first.json()[-1]["id"]
    assert f"max_id={oldest_id}" in first["Link"] and f"min_id={first.json()[0]['id']}" in first["Link"]
    rest = client.get("/api/v1/notifications", {"limit": 2, "max_id": oldest_id}).json()
    assert len(rest) == 1 and int(rest[0]["id"]) < int(oldest_id)


def test_notification_show_own_and_404_for_others(alice, bob, activity, api_as):
    """One's own notification is shown; someone else's is 404."""
    note = Notification.objects.filter(recipient=alice).first()
    assert api_as(alice).get(f"/api/v1/notifications/{note.pk}").json()["id"] == str(note.pk)
    response = api_as(bob).get(f"/api/v1/notifications/{note.pk}")
    assert response.status_code == 404 and response.json() == {"error": "Record not found"}


def test_dismiss_deletes_one_notification(alice, bob, activity, api_as):
    """Dismiss answers ``{}`` and deletes only that notification; others cannot dismiss it."""
    note = Notification.objects.filter(recipient=alice).first()
    assert api_as(bob).post(f"/api/v1/notifications/{note.pk}/dismiss").status_code == 404
    assert Notification.objects.filter(pk=note.pk).exists()
    response = api_as(alice).post(f"/api/v1/notifications/{note.pk}/dismiss")
    assert response.status_code == 200 and response.json() == {}
    assert not Notification.objects.filter(pk=note.pk).exists()
    assert Notification.objects.filter(recipient=alice).count() == 2


def test_clear_deletes_only_own_notifications(alice, bob, activity, api_as):
    """Clear answers ``{}`` and empties the caller's notifications, nobody else's."""
    api_as(alice).post(f"/api/v1/statuses/{activity['reply']}/favourite")  # bob gets one
    assert api_as(alice).post("/api/v1/notifications/clear").json() == {}
    assert not Notification.objects.filter(recipient=alice).exists()
    assert Notification.objects.filter(recipient=bob).count() == 1


def test_notification_scopes(alice, activity, api_as):
    """Reading needs ``read:notifications``; clearing needs ``write:notifications`` (403, nothing deleted)."""
    assert api_as(alice, "write").get("/api/v1/notifications").status_code == 403
    assert api_as(alice, "read:notifications").get("/api/v1/notifications").status_code == 200
    assert api_as(alice, "read").post("/api/v1/notifications/clear").status_code == 403
    assert Notification.objects.filter(recipient=alice).count() == 3
    assert Client().get("/api/v1/notifications").status_code == 401


def test_unread_count_follows_notifications_marker(alice, activity, api_as):
    """``unread_count`` counts notifications newer than the notifications read marker."""
    client = api_as(alice)
    assert client.get("/api/v1/notifications/unread_count").json() == {"count": 3}
    oldest = Notification.objects.filter(recipient=alice).order_by("id").first()
    client.post("/api/v1/markers", {"notifications[last_read_id]": str(oldest.pk)})
    assert client.get("/api/v1/notifications/unread_count").json() == {"count": 2}
    assert client.get("/api/v1/notifications/unread_count", {"types[]": ["mention"]}).json() == {"count": 1}

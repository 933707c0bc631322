"""Client API read markers: save and read back positions in home and notifications."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from microblog.models import Marker

pytestmark = pytest.mark.django_db


def test_markers_round_trip_with_versions(alice, api_as):
    """Saved positions come back with a version that grows on each save."""
    client = api_as(alice)
    assert client.get("/api/v1/markers", {"timeline[]": ["home", "notifications"]}).json() == {}
    saved = client.post("/api/v1/markers", {"home[last_read_id]": "103", "notifications[last_read_id]": "7"}).json()
    assert saved["home"]["last_read_id"] == "103" and saved["notifications"]["last_read_id"] == "7"
    assert set(saved["home"]) == {"last_read_id", "version", "updated_at"}
    again = client.post(
        "/api/v1/markers", json.dumps({"home": {"last_read_id": "110"}}), content_type="application/json"
    ).json()
    assert list(again) == ["home"] and again["home"]["version"] == saved["home"]["version"] + 1
    read = client.get("/api/v1/markers", {"timeline[]": ["home", "notifications"]}).json()
    assert read["home"]["last_read_id"] == "110" and read["notifications"]["last_read_id"] == "7"
    assert list(client.get("/api/v1/markers", {"timeline[]": ["notifications"]}).json()) == ["notifications"]


def test_markers_are_per_member(alice, bob, api_as):
    """One member's markers are invisible to another."""
    api_as(alice).post("/api/v1/markers", {"home[last_read_id]": "5"})
    assert api_as(bob).get("/api/v1/markers", {"timeline[]": ["home"]}).json() == {}


def test_markers_unknown_timeline_ignored(alice, api_as):
    """Unknown timelines are neither stored nor returned."""
    client = api_as(alice)
    assert client.post("/api/v1/markers", {"public[last_read_id]": "1"}).json() == {}
    assert not Marker.objects.exists()
    assert client.get("/api/v1/markers", {"timeline[]": ["public"]}).json() == {}


def test_markers_scopes(alice, api_as):
    """Reading needs ``read:statuses``, saving ``write:statuses``; no token is 401; nothing stored."""
    assert Client().get("/api/v1/markers").status_code == 401
    assert api_as(alice, "read").post("/api/v1/markers", {"home[last_read_id]": "1"}).status_code == 403
    assert api_as(alice, "write").get("/api/v1/markers", {"timeline[]": ["home"]}).status_code == 403
    assert not Marker.objects.exists()

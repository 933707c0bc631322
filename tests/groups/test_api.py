"""Client API /api/v1/groups: listing, join/leave, members, requests, approve/reject, errors."""

from __future__ import annotations

import pytest

from federation.models import Follow
from groups import services
from groups.models import Group, MembershipState


@pytest.fixture
def bob(make_local_member):
    return make_local_member("bob")


def test_list_and_show_groups_anonymously(group, anon_api):
    """Anyone can list and show groups; the group's account says group: true."""
    listing = anon_api.get("/api/v1/groups")
    assert listing.status_code == 200
    assert [g["name"] for g in listing.json()] == ["branch1"]
    shown = anon_api.get(f"/api/v1/groups/{group.pk}").json()
    assert shown["member_count"] == 1 and shown["account"]["group"] is True
    assert shown["membership"] is None
    assert anon_api.get("/api/v1/groups?q=nothing").json() == []


def test_show_unknown_group_is_404(db, anon_api):
    """An unknown group id answers 404 with Mastodon's error body."""
    response = anon_api.get("/api/v1/groups/999")
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}


def test_join_requires_token(group, anon_api, bob):
    """Joining without a token is 401 and creates nothing."""
    response = anon_api.post(f"/api/v1/groups/{group.pk}/join")
    assert response.status_code == 401
    assert services.membership_of(bob, group) is None


def test_join_then_officer_approves(group, secretary, bob, api_for):
    """bob asks to join (pending), the secretary sees and approves the request."""
    response = api_for(bob).post(f"/api/v1/groups/{group.pk}/join")
    assert response.status_code == 200
    assert response.json()["membership"]["state"] == "pending"
    officer = api_for(secretary)
    pending = officer.get(f"/api/v1/groups/{group.pk}/requests").json()
    assert [m["account"]["id"] for m in pending] == [str(bob.pk)]
    approved = officer.post(f"/api/v1/groups/{group.pk}/requests/{bob.pk}/approve")
    assert approved.status_code == 200 and approved.json()["state"] == "active"
    members = api_for(bob).get(f"/api/v1/groups/{group.pk}/members").json()
    assert {m["account"]["id"] for m in members} == {str(bob.pk), str(secretary.pk)}


def test_member_cannot_see_requests_or_approve(group, bob, make_local_member, make_member, api_for):
    """A plain member gets 403 on requests and approve, and the request stays pending."""
    make_member(group, bob)
    carol = make_local_member("carol")
    services.request_membership(carol, group)
    client = api_for(bob)
    assert client.get(f"/api/v1/groups/{group.pk}/requests").status_code == 403
    response = client.post(f"/api/v1/groups/{group.pk}/requests/{carol.pk}/approve")
    assert response.status_code == 403
    assert services.membership_of(carol, group).state == MembershipState.PENDING


def test_non_member_cannot_list_members(group, bob, api_for):
    """Non-members get 403 on the member list."""
    response = api_for(bob).get(f"/api/v1/groups/{group.pk}/members")
    assert response.status_code == 403
    assert "error" in response.json()


def test_officer_rejects_via_api(group, secretary, bob, api_for):
    """Rejecting drops the follow and marks the request rejected."""
    services.request_membership(bob, group)
    response = api_for(secretary).post(f"/api/v1/groups/{group.pk}/requests/{bob.pk}/reject")
    assert response.status_code == 200 and response.json()["state"] == "rejected"
    assert not Follow.objects.filter(follower=bob, target=group.actor).exists()


def test_approve_without_request_is_404(group, secretary, bob, api_for):
    """Deciding on an account that did not ask is 404 and makes no membership."""
    response = api_for(secretary).post(f"/api/v1/groups/{group.pk}/requests/{bob.pk}/approve")
    assert response.status_code == 404
    assert services.membership_of(bob, group) is None


def test_leave_via_api(group, bob, make_member, api_for):
    """A member leaves through the API."""
    make_member(group, bob)
    response = api_for(bob).post(f"/api/v1/groups/{group.pk}/leave")
    assert response.status_code == 200 and response.json()["membership"]["state"] == "left"


def test_create_group_staff_only(secretary, bob, api_for):
    """Only staff create groups through the API; others get 403 and nothing is stored."""
    denied = api_for(bob).post("/api/v1/groups", {"name": "newb", "kind": "branch"})
    assert denied.status_code == 403
    assert not Group.objects.exists()
    secretary.user.is_staff = True
    secretary.user.save()
    created = api_for(secretary).post("/api/v1/groups", {"name": "newb", "display_name": "New", "kind": "branch"})
    assert created.status_code == 201
    assert created.json()["membership"]["role"] == "secretary"
    taken = api_for(secretary).post("/api/v1/groups", {"name": "bob", "kind": "branch"}, HTTP_ACCEPT_LANGUAGE="en")
    assert taken.status_code == 422 and "already used" in taken.json()["error"]


def test_mastodon_follow_of_group_asks_to_join(group, bob, api_for):
    """Following the group's account from a Mastodon app creates a pending request."""
    response = api_for(bob).post(f"/api/v1/accounts/{group.actor.pk}/follow")
    assert response.status_code == 200
    assert response.json()["requested"] is True
    assert services.membership_of(bob, group).state == MembershipState.PENDING

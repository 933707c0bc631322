"""Officers' actions (roles, invitations, removal, real-name verification) through the client
API and the HTML forms, and the permission rules around them: members can't approve or act as
officers, officers of one group can't act on another, non-members can't read members-only
content by API, HTML or ActivityPub fetch (signed or not), and a members-only group's
followers collection shows only its size to outsiders."""

from __future__ import annotations

import pytest
from django.test import Client

from federation.keys import load_private_key
from federation.models import Follow, OutboxActivity
from federation.signing import sign_request
from groups.models import Membership, MembershipState
from groups.posts import create_group_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
AS2 = "application/activity+json"


@pytest.fixture
def crew(group, secretary, make_member, make_local_member):
    """branch1 with bob (member) and cora (committee member, an officer without ``roles``/``remove``)."""
    bob, cora = make_local_member("bob"), make_local_member("cora")
    make_member(group, bob)
    make_member(group, cora, role="committee_member")
    return {"bob": bob, "cora": cora}


def action_url(group, member, action: str) -> str:
    return f"/api/v1/groups/{group.pk}/members/{member.pk}/{action}"


def test_secretary_sets_role_via_api(group, secretary, crew, api_for):
    """The secretary makes bob deputy secretary; the moderators collection gets an Add."""
    response = api_for(secretary).post(action_url(group, crew["bob"], "role"), {"role": "deputy_secretary"})
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "deputy_secretary" and response.json()["officer"] is True
    assert Membership.objects.get(group=group, actor=crew["bob"]).role == "deputy_secretary"


def test_unknown_role_is_422_with_choices(group, secretary, crew, api_for):
    """An unknown role answers 422 naming the roles to choose from."""
    response = api_for(secretary).post(action_url(group, crew["bob"], "role"), {"role": "king"})
    assert response.status_code == 422 and "secretary" in response.json()["error"]


def test_officer_without_roles_permission_cannot_set_roles(group, crew, api_for):
    """A committee member (no ``roles`` permission) gets 403 and nothing changes."""
    response = api_for(crew["cora"]).post(action_url(group, crew["bob"], "role"), {"role": "secretary"})
    assert response.status_code == 403 and "secretary" in response.json()["error"]
    assert Membership.objects.get(group=group, actor=crew["bob"]).role == "member"


def test_member_cannot_remove_or_verify_or_approve(group, crew, make_local_member, make_member, api_for):
    """A plain member gets 403 for removal, verification and approving a pending request."""
    dan = make_local_member("dan")
    make_member(group, dan, state=MembershipState.PENDING)
    api = api_for(crew["bob"])
    assert api.post(action_url(group, crew["cora"], "remove")).status_code == 403
    assert api.post(action_url(group, crew["cora"], "verify")).status_code == 403
    assert api.post(f"/api/v1/groups/{group.pk}/requests/{dan.pk}/approve").status_code == 403
    assert Membership.objects.get(group=group, actor=dan).state == MembershipState.PENDING


def test_secretary_removes_and_verifies_via_api(group, secretary, crew, api_for):
    """Removal ends bob's membership and follow; verification marks cora's real name."""
    api = api_for(secretary)
    assert api.post(action_url(group, crew["cora"], "verify")).json()["real_name_verified"] is True
    assert (
        api.post(action_url(group, crew["cora"], "verify"), {"verified": "false"}).json()["real_name_verified"] is False
    )
    assert api.post(action_url(group, crew["bob"], "remove")).json()["state"] == MembershipState.REMOVED
    assert not Follow.objects.filter(follower=crew["bob"], target=group.actor, state="accepted").exists()
    again = api.post(action_url(group, crew["bob"], "remove"), HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 422 and "not an active member" in again.json()["error"]


def test_officer_of_another_group_cannot_act(group, crew, make_group, make_local_member, api_for, client):
    """The secretary of branch2 gets 403 on branch1 by API and HTML form."""
    other_sec = make_local_member("osec")
    make_group("branch2", secretary=other_sec)
    api = api_for(other_sec)
    assert api.post(action_url(group, crew["bob"], "remove")).status_code == 403
    assert api.post(action_url(group, crew["bob"], "role"), {"role": "secretary"}).status_code == 403
    assert api.post(f"/api/v1/groups/{group.pk}/invitations", {"acct": "dan"}).status_code == 403
    client.force_login(other_sec.user)
    assert client.post(f"/g/{group.actor.username}/members/{crew['bob'].pk}/remove").status_code == 403
    assert Membership.objects.get(group=group, actor=crew["bob"]).state == MembershipState.ACTIVE


def test_invite_local_and_remote_via_api(group, secretary, make_local_member, make_remote_actor, api_for):
    """An officer invites a local member by name and a remote one by id; the remote one gets an Invite."""
    make_local_member("dan")
    zed = make_remote_actor("zed", domain="far.example")[0]
    api = api_for(secretary)
    local = api.post(f"/api/v1/groups/{group.pk}/invitations", {"acct": "dan"})
    assert local.status_code == 201 and local.json()["state"] == MembershipState.INVITED
    remote = api.post(f"/api/v1/groups/{group.pk}/invitations", {"account_id": zed.pk})
    assert remote.status_code == 201
    assert OutboxActivity.objects.filter(actor=group.actor, type="Invite").count() == 1
    missing = api.post(f"/api/v1/groups/{group.pk}/invitations", {"acct": "nobody"})
    assert missing.status_code == 404 and "nobody" in missing.json()["error"]


def test_roles_listed(group, anon_api):
    """GET /api/v1/groups/:id/roles lists the configured roles with their permissions."""
    roles = anon_api.get(f"/api/v1/groups/{group.pk}/roles").json()
    assert roles[0]["name"] == "secretary" and "roles" in roles[0]["permissions"]
    assert {"name": "member", "officer": False, "permissions": ["post"]} in roles


def test_html_forms_for_officers(group, secretary, crew, client):
    """The secretary sees the officer forms and uses them; a member sees none and gets 403."""
    client.force_login(secretary.user)
    page = client.get(f"/g/{group.actor.username}").content.decode()
    assert f"/members/{crew['bob'].pk}/role" in page and f"/g/{group.actor.username}/invite" in page
    base = f"/g/{group.actor.username}/members/{crew['bob'].pk}"
    client.post(f"{base}/role", {"role": "committee_member"})
    client.post(f"{base}/verify", {"verified": "true"})
    membership = Membership.objects.get(group=group, actor=crew["bob"])
    assert membership.role == "committee_member" and membership.real_name_verified
    response = client.post(f"/g/{group.actor.username}/invite", {"handle": "ghost"}, follow=True)
    assert "there is no member called" in response.content.decode()
    member = Client()
    member.force_login(crew["bob"].user)
    assert f"/members/{crew['cora'].pk}/remove" not in member.get(f"/g/{group.actor.username}").content.decode()
    assert member.post(f"/g/{group.actor.username}/members/{crew['cora'].pk}/remove").status_code == 403


def test_html_forms_require_csrf(group, secretary, crew):
    """The officer forms are CSRF-protected."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(secretary.user)
    response = client.post(f"/g/{group.actor.username}/members/{crew['bob'].pk}/remove")
    assert response.status_code == 403
    assert Membership.objects.get(group=group, actor=crew["bob"]).state == MembershipState.ACTIVE


def _signed_get(client, path: str, actor, pem: str):
    url = f"http://127.0.0.1:8000{path}"
    headers = sign_request(
        "GET", url, {"Accept": AS2}, None, key_id=actor.public_key_id, private_key=load_private_key(pem)
    )
    return client.get(path, headers=headers)


def test_non_member_cannot_read_members_only_post_anywhere(
    group, crew, make_local_member, make_remote_actor, api_for, client, django_capture_on_commit_callbacks
):
    """A members-only post is hidden from a non-member by API, HTML and AS2 fetch (signed or not)."""
    with django_capture_on_commit_callbacks(execute=True):
        post = create_group_post(crew["bob"], group.actor, text="budget draft")
    outsider = make_local_member("dan")
    api = api_for(outsider)
    assert api.get(f"/api/v1/statuses/{post.pk}").status_code == 404
    assert api.get(f"/api/v1/groups/{group.pk}/statuses").json() == []
    assert api.get(f"/api/v1/groups/account/{group.actor.pk}/statuses").json() == []
    assert api_for(crew["cora"]).get(f"/api/v1/statuses/{post.pk}").status_code == 200  # a fellow member
    client.force_login(outsider.user)
    assert "budget draft" not in client.get(f"/g/{group.actor.username}/posts").content.decode()
    path = "/objects/" + post.ap_id.rsplit("/", 1)[1]
    assert Client().get(path, HTTP_ACCEPT=AS2).status_code == 404
    mallory, pem = make_remote_actor("mallory", domain="remote.example")
    assert _signed_get(Client(), path, mallory, pem).status_code == 404


def test_members_only_followers_collection_shows_size_only(group, crew, make_remote_actor, client):
    """Outsiders (unsigned, signed by a non-member, signed-in non-member) get totalItems only; members get items."""
    url = f"/actors/{group.actor.pk}/followers"
    for params in ({}, {"page": "1"}):
        doc = Client().get(url, params, HTTP_ACCEPT=AS2).json()
        assert doc["totalItems"] == 3 and "first" not in doc and "orderedItems" not in doc
    mallory, pem = make_remote_actor("mallory", domain="remote.example")
    assert "orderedItems" not in _signed_get(Client(), f"{url}?page=1", mallory, pem).json()
    client.force_login(crew["bob"].user)
    items = client.get(url, {"page": "1"}, HTTP_ACCEPT=AS2).json()["orderedItems"]
    assert crew["cora"].ap_id in items


def test_open_group_followers_collection_is_listed(make_group, make_member, make_local_member):
    """An open group's followers collection lists its members to anyone."""
    open_group = make_group("open2", members_only=False)
    bob = make_local_member("bob")
    make_member(open_group, bob)
    page = Client().get(f"/actors/{open_group.actor.pk}/followers", {"page": "1"}, HTTP_ACCEPT=AS2).json()
    assert bob.ap_id in page["orderedItems"]

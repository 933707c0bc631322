"""HTML pages: directory, group page, join, officers' approvals."""

from __future__ import annotations

from django.test import Client

from groups import services
from groups.models import MembershipState


def client_for(actor) -> Client:
    client = Client()
    client.force_login(actor.user)
    return client


def test_directory_lists_and_searches(group, make_group):
    """The directory lists groups and filters by the search box."""
    make_group("township", display_name="Township committee", kind="township_committee")
    page = Client().get("/groups")
    assert page.status_code == 200
    assert "Branch1" in page.content.decode() and "Township committee" in page.content.decode()
    found = Client().get("/groups?q=township").content.decode()
    assert "Township committee" in found and "Branch1" not in found


def test_group_page_public_hides_members(group, secretary, make_local_member, make_member):
    """Anonymous visitors see officers and count, not the member list."""
    make_member(group, make_local_member("hiddenmember"))
    page = Client().get("/g/branch1").content.decode()
    assert "@sec@" in page
    assert "hiddenmember" not in page


def test_member_sees_member_list(group, make_local_member, make_member):
    """Members see the member list."""
    bob = make_local_member("bob")
    make_member(group, bob)
    make_member(group, make_local_member("visiblemember"))
    assert "visiblemember" in client_for(bob).get("/g/branch1").content.decode()


def test_join_form_then_officer_approves(group, secretary, make_local_member):
    """A member asks to join by the form; the officer sees the request and approves it."""
    bob = make_local_member("bob")
    response = client_for(bob).post("/g/branch1/join")
    assert response.status_code == 302
    assert services.membership_of(bob, group).state == MembershipState.PENDING
    page = client_for(secretary).get("/g/branch1").content.decode()
    assert f"/g/branch1/requests/{bob.pk}/approve" in page
    client_for(secretary).post(f"/g/branch1/requests/{bob.pk}/approve")
    assert services.is_member(bob, group)


def test_member_cannot_approve_by_form(group, make_local_member, make_member):
    """A plain member posting the approve form gets 403; the request stays pending."""
    bob = make_local_member("bob")
    make_member(group, bob)
    carol = make_local_member("carol")
    services.request_membership(carol, group)
    assert f"/requests/{carol.pk}/approve" not in client_for(bob).get("/g/branch1").content.decode()
    response = client_for(bob).post(f"/g/branch1/requests/{carol.pk}/approve")
    assert response.status_code == 403
    assert services.membership_of(carol, group).state == MembershipState.PENDING


def test_unknown_group_page_is_404(db):
    """An unknown group name is 404."""
    assert Client().get("/g/nothing").status_code == 404


def test_group_page_in_chinese(group, settings):
    """The page is translated when the visitor picks Simplified Chinese."""
    page = Client().get("/g/branch1", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "负责人" in page

"""The operator CLI: group create, members, approve, reject."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from federation.models import OutboxActivity
from groups import services
from groups.models import Group, MembershipState


def run(*args: str) -> str:
    out = StringIO()
    call_command("group", *args, stdout=out)
    return out.getvalue()


def test_cli_create_group(secretary):
    """`group create` makes a group led by the named member."""
    out = run("create", "village", "--name", "Village branch", "--kind", "branch", "--secretary", "sec")
    assert "created group village@" in out
    group = Group.objects.get(actor__username="village")
    assert group.actor.name == "Village branch"
    assert services.is_officer(secretary, group)


def test_cli_create_name_taken_is_clear_error(secretary):
    """A name already held by a member gives a CommandError and no group."""
    with translation.override("en"), pytest.raises(CommandError, match="already used"):
        run("create", "sec", "--secretary", "sec")
    assert not Group.objects.exists()


def test_cli_create_unknown_secretary(db):
    """An unknown secretary is refused."""
    with pytest.raises(CommandError, match="no local member"):
        run("create", "village", "--secretary", "nobody")
    assert not Group.objects.exists()


def test_cli_approve_and_members(group, make_remote_actor, make_local_member):
    """`group approve` activates a remote request (Accept sent); `group members` lists it."""
    bob, _ = make_remote_actor("bob", domain="county-b.example")
    from tests.groups.test_inbound import dispatch, follow_of

    dispatch(follow_of(bob, group), bob)
    assert "bob@county-b.example" in run("members", "branch1", "--pending")
    out = run("approve", "branch1", "bob@county-b.example")
    assert "approved bob@county-b.example" in out
    assert services.is_member(bob, group)
    assert OutboxActivity.objects.filter(type="Accept").count() == 1
    listing = run("members", "branch1")
    assert "bob@county-b.example\tmember\tactive" in listing
    assert "sec@" in listing


def test_cli_reject_local_request(group, make_local_member):
    """`group reject NAME USER` rejects a local member's request."""
    bob = make_local_member("bob")
    services.request_membership(bob, group)
    assert "rejected bob@" in run("reject", "branch1", "bob")
    assert services.membership_of(bob, group).state == MembershipState.REJECTED


def test_cli_approve_without_request_errors(group, make_local_member):
    """Approving someone who did not ask is a CommandError and changes nothing."""
    make_local_member("bob")
    with translation.override("en"), pytest.raises(CommandError, match="no pending request"):
        run("approve", "branch1", "bob")
    with pytest.raises(CommandError, match="no group"):
        run("approve", "nogroup", "bob")
    with pytest.raises(CommandError, match="no known account"):
        run("approve", "branch1", "ghost@nowhere.example")

"""Remote members join and leave local groups: Follow (Mastodon, Lemmy), Join/Leave (Mobilizon)."""

from __future__ import annotations

import json

import pytest

from federation import registry
from federation.inbound import Reject, object_type_of
from federation.models import Delivery, Follow, FollowState, OutboxActivity
from groups import services
from groups.models import MembershipState


def dispatch(activity: dict, actor) -> None:
    """Run the handler federation's inbox would pick for ``activity``."""
    handler = registry.handler_for(activity["type"], object_type_of(activity))
    assert handler is not None, f"no handler for {activity['type']}"
    handler(activity, actor)


@pytest.fixture
def remote_bob(make_remote_actor):
    return make_remote_actor("bob", domain="county-b.example")[0]


def follow_of(actor, group, suffix="1") -> dict:
    return {
        "id": f"https://county-b.example/activities/follow-{suffix}",
        "type": "Follow",
        "actor": actor.ap_id,
        "object": group.actor.ap_id,
    }


def test_remote_follow_is_pending_then_approve_sends_accept(group, secretary, remote_bob):
    """A remote Follow makes a pending membership; approval activates it and queues an Accept."""
    dispatch(follow_of(remote_bob, group), remote_bob)
    membership = services.membership_of(remote_bob, group)
    assert membership.state == MembershipState.PENDING
    assert membership.request_ap_id.endswith("follow-1")
    assert not OutboxActivity.objects.filter(type="Accept").exists()
    services.approve(group, remote_bob, by=secretary)
    assert services.is_member(remote_bob, group)
    accept = OutboxActivity.objects.get(type="Accept")
    assert accept.body["object"]["id"] == "https://county-b.example/activities/follow-1"
    assert accept.actor == group.actor
    assert Delivery.objects.filter(activity=accept, inbox_url=remote_bob.inbox_url).exists()


def test_remote_reject_sends_reject_and_stores_no_member(group, secretary, remote_bob):
    """Rejecting a remote request sends Reject and leaves no follow and no membership."""
    dispatch(follow_of(remote_bob, group), remote_bob)
    services.reject(group, remote_bob, by=secretary)
    assert OutboxActivity.objects.filter(type="Reject").count() == 1
    assert not Follow.objects.filter(follower=remote_bob, target=group.actor).exists()
    assert not services.is_member(remote_bob, group)


def test_remote_undo_follow_leaves(group, secretary, remote_bob):
    """Undo{Follow} from an active remote member marks it left."""
    dispatch(follow_of(remote_bob, group), remote_bob)
    services.approve(group, remote_bob, by=secretary)
    undo = {
        "id": "https://county-b.example/activities/undo-1",
        "type": "Undo",
        "actor": remote_bob.ap_id,
        "object": follow_of(remote_bob, group),
    }
    dispatch(undo, remote_bob)
    assert services.membership_of(remote_bob, group).state == MembershipState.LEFT
    assert not Follow.objects.filter(follower=remote_bob, target=group.actor).exists()


def test_remote_member_removed_gets_reject(group, secretary, remote_bob):
    """Removing a remote member sends Reject of its follow (Lemmy/Mastodon removal)."""
    dispatch(follow_of(remote_bob, group), remote_bob)
    services.approve(group, remote_bob, by=secretary)
    services.remove(group, remote_bob, by=secretary)
    assert OutboxActivity.objects.filter(type="Reject").count() == 1
    assert services.membership_of(remote_bob, group).state == MembershipState.REMOVED


def test_lemmy_follow_group_fixture_is_pending(group, make_remote_actor, fixture_path):
    """Lemmy's Follow of a community (no @context, to = group) is held for approval."""
    data = json.loads(fixture_path("lemmy/follow_group.json").read_text())
    lemmy, _ = make_remote_actor("lemmy_alpha", domain="ds9.lemmy.ml", scheme="http")
    data.update(actor=lemmy.ap_id, object=group.actor.ap_id, to=[group.actor.ap_id])
    data["id"] = "http://ds9.lemmy.ml/activities/follow/6abcd50b"
    dispatch(data, lemmy)
    assert services.membership_of(lemmy, group).state == MembershipState.PENDING
    assert Follow.objects.get(follower=lemmy, target=group.actor).state == FollowState.PENDING


def test_mobilizon_join_then_accept_join(group, secretary, make_remote_actor, fixture_path):
    """Mobilizon's Join of the group is pending; approval answers Accept{Join} with the Join id."""
    data = json.loads(fixture_path("mobilizon/join.json").read_text())
    # The fixture's actor and id are on different hosts (README caveat): put both on one host.
    tcit, _ = make_remote_actor("tcit", domain="mobilizon.example")
    data.update(actor=tcit.ap_id, object=group.actor.ap_id, id="https://mobilizon.example/join/group/1")
    dispatch(data, tcit)
    assert services.membership_of(tcit, group).state == MembershipState.PENDING
    services.approve(group, tcit, by=secretary)
    accept = OutboxActivity.objects.get(type="Accept")
    assert accept.body["object"]["type"] == "Join"
    assert accept.body["object"]["id"] == "https://mobilizon.example/join/group/1"
    assert services.is_member(tcit, group)


def test_mobilizon_leave_marks_left(group, secretary, make_remote_actor, fixture_path):
    """Mobilizon's Leave of the group ends the membership and drops the follow."""
    tcit, _ = make_remote_actor("tcit", domain="mobilizon.example")
    dispatch({"id": "https://mobilizon.example/join/group/1", "type": "Join", "actor": tcit.ap_id,
              "object": group.actor.ap_id}, tcit)  # fmt: skip
    services.approve(group, tcit, by=secretary)
    data = json.loads(fixture_path("mobilizon/leave.json").read_text())
    data.update(actor=tcit.ap_id, object=group.actor.ap_id, id="https://mobilizon.example/leave/1")
    dispatch(data, tcit)
    assert services.membership_of(tcit, group).state == MembershipState.LEFT
    assert not Follow.objects.filter(follower=tcit, target=group.actor).exists()


def test_join_of_unknown_group_is_rejected(group, make_remote_actor):
    """A Join of an actor that is not a local group is refused and stores nothing."""
    tcit, _ = make_remote_actor("tcit", domain="mobilizon.example")
    with pytest.raises(Reject):
        dispatch({"id": "https://mobilizon.example/j/2", "type": "Join", "actor": tcit.ap_id,
                  "object": services.officers(group)[0].actor.ap_id}, tcit)  # fmt: skip
    assert not services.membership_of(tcit, group)


def test_invited_remote_member_accepting_invite_is_active(group, secretary, remote_bob):
    """An Invite goes out to a remote invitee; its Accept{Invite} makes it an active member."""
    services.invite(group, remote_bob, by=secretary)
    invite = OutboxActivity.objects.get(type="Invite")
    assert invite.body["target"] == remote_bob.ap_id
    dispatch({"id": "https://county-b.example/a/1", "type": "Accept", "actor": remote_bob.ap_id,
              "object": invite.ap_id}, remote_bob)  # fmt: skip
    assert services.is_member(remote_bob, group)

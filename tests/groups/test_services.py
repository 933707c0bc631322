"""Group services: creation, the join/approve/reject/leave/remove cycle, roles and permissions."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import translation

from federation.models import Actor, ActorType, Delivery, Follow, FollowState, OutboxActivity
from groups import services
from groups.models import Group, Membership, MembershipState


def test_create_group_makes_locked_group_actor_with_secretary(group, secretary):
    """A new group has a locked Group actor and its secretary is an active officer who follows it."""
    assert group.actor.type == ActorType.GROUP
    assert group.actor.manually_approves_followers is True
    assert group.actor.local
    membership = services.membership_of(secretary, group)
    assert membership.state == MembershipState.ACTIVE and membership.role == "secretary"
    assert membership.joined_at is not None
    assert Follow.objects.get(follower=secretary, target=group.actor).state == FollowState.ACCEPTED
    assert services.is_officer(secretary, group)


def test_create_group_rejects_name_of_member(make_group, make_local_member):
    """A group cannot take a member's name: a clear GroupError and no group is stored."""
    make_local_member("taken")
    with translation.override("en"), pytest.raises(services.GroupError, match="already used"):
        make_group("taken")
    assert not Group.objects.exists()
    assert Actor.objects.filter(username="taken", type=ActorType.GROUP).count() == 0


def test_create_group_rejects_unknown_kind(make_group):
    """An unconfigured kind is refused and nothing is created."""
    with translation.override("en"), pytest.raises(services.GroupError, match="kind"):
        make_group("g1", kind="club")
    assert not Group.objects.exists()


def test_create_group_with_parent_links_child(make_group, secretary):
    """A township branch can sit under a county committee on the same node."""
    county = make_group("county", secretary=secretary, kind="county_committee")
    village = make_group("village", secretary=secretary, parent=county)
    assert village.parent == county
    assert list(county.children.all()) == [village]


def test_local_join_is_pending_until_approved(group, secretary, make_local_member):
    """A local member's request stays pending (follow too) until an officer approves it."""
    bob = make_local_member("bob")
    membership = services.request_membership(bob, group)
    assert membership.state == MembershipState.PENDING
    assert not services.is_member(bob, group)
    assert Follow.objects.get(follower=bob, target=group.actor).state == FollowState.PENDING
    services.approve(group, bob, by=secretary)
    assert services.is_member(bob, group)
    assert Follow.objects.get(follower=bob, target=group.actor).state == FollowState.ACCEPTED
    assert services.membership_of(bob, group).joined_at is not None


def test_reject_marks_rejected_and_drops_follow(group, secretary, make_local_member):
    """A rejected request leaves a rejected membership and no follow."""
    bob = make_local_member("bob")
    services.request_membership(bob, group)
    services.reject(group, bob, by=secretary)
    assert services.membership_of(bob, group).state == MembershipState.REJECTED
    assert not Follow.objects.filter(follower=bob, target=group.actor).exists()
    with pytest.raises(services.GroupError):
        services.approve(group, bob, by=secretary)


def test_rejected_member_can_ask_again(group, secretary, make_local_member):
    """After a rejection a new request is pending again."""
    bob = make_local_member("bob")
    services.request_membership(bob, group)
    services.reject(group, bob, by=secretary)
    assert services.request_membership(bob, group).state == MembershipState.PENDING


def test_leave_undoes_follow(group, make_local_member, make_member):
    """A member who leaves is marked left and no longer follows the group."""
    bob = make_local_member("bob")
    make_member(group, bob)
    services.leave(bob, group)
    assert services.membership_of(bob, group).state == MembershipState.LEFT
    assert not Follow.objects.filter(follower=bob, target=group.actor).exists()


def test_last_secretary_cannot_leave(group, secretary):
    """The only secretary must appoint another before leaving; the membership stays active."""
    with pytest.raises(services.GroupError):
        services.leave(secretary, group)
    assert services.is_member(secretary, group)


def test_officer_removes_member(group, secretary, make_local_member, make_member):
    """Removal by an officer marks the member removed and drops its follow."""
    bob = make_local_member("bob")
    make_member(group, bob)
    services.remove(group, bob, by=secretary)
    assert services.membership_of(bob, group).state == MembershipState.REMOVED
    assert not Follow.objects.filter(follower=bob, target=group.actor).exists()


def test_member_cannot_approve(group, make_local_member, make_member):
    """A plain member cannot approve a request: PermissionDenied and the request stays pending."""
    carol = make_local_member("carol")
    make_member(group, carol)
    bob = make_local_member("bob")
    services.request_membership(bob, group)
    with pytest.raises(PermissionDenied):
        services.approve(group, bob, by=carol)
    assert services.membership_of(bob, group).state == MembershipState.PENDING
    assert Follow.objects.get(follower=bob, target=group.actor).state == FollowState.PENDING


def test_officer_of_other_group_cannot_act(group, make_group, make_local_member):
    """The secretary of another group has no rights here."""
    other = make_group("other")
    other_sec = services.officers(other)[0].actor
    bob = make_local_member("bob")
    services.request_membership(bob, group)
    with pytest.raises(PermissionDenied):
        services.approve(group, bob, by=other_sec)
    with pytest.raises(PermissionDenied):
        services.remove(group, services.officers(group)[0].actor, by=other_sec)
    assert services.membership_of(bob, group).state == MembershipState.PENDING
    assert not services.has_perm(other_sec, group, "approve")
    assert services.has_perm(other_sec, other, "approve")


def test_has_perm_follows_role_settings(group, secretary, make_local_member, make_member):
    """Permissions come from settings.GROUPS_ROLES and need an active membership."""
    bob = make_local_member("bob")
    make_member(group, bob, role="committee_member")
    assert services.has_perm(bob, group, "approve")
    assert not services.has_perm(bob, group, "remove")
    dora = make_local_member("dora")
    make_member(group, dora, role="secretary", state=MembershipState.PENDING)
    assert not services.has_perm(dora, group, "approve")
    assert not services.has_perm(None, group, "post")


def test_set_role_federates_add_to_remote_followers(group, secretary, make_remote_actor, make_member):
    """Making a remote member an officer sends Add targeting the moderators collection."""
    bob, _ = make_remote_actor("bob", domain="remote.example")
    make_member(group, bob)
    services.set_role(group, bob, "committee_member", by=secretary)
    activity = OutboxActivity.objects.get(type="Add")
    assert activity.body["target"] == f"{group.actor.ap_id}/moderators"
    assert activity.body["object"] == bob.ap_id
    assert Delivery.objects.filter(activity=activity).exists()
    assert services.is_officer(bob, group)


def test_set_role_requires_roles_perm(group, make_local_member, make_member):
    """A committee member cannot change roles; the role is unchanged and nothing is sent."""
    bob = make_local_member("bob")
    make_member(group, bob, role="committee_member")
    carol = make_local_member("carol")
    make_member(group, carol)
    with pytest.raises(PermissionDenied):
        services.set_role(group, carol, "secretary", by=bob)
    assert services.membership_of(carol, group).role == "member"
    assert not OutboxActivity.objects.filter(type="Add").exists()


def test_verify_real_name_records_officer(group, secretary, make_local_member, make_member):
    """An officer marks a member's real name verified, recording who did."""
    bob = make_local_member("bob")
    make_member(group, bob)
    membership = services.verify_real_name(group, bob, by=secretary)
    assert membership.real_name_verified and membership.verified_by == secretary
    with pytest.raises(PermissionDenied):
        services.verify_real_name(group, secretary, by=bob)


def test_invited_member_joins_at_once(group, secretary, make_local_member):
    """Asking to join after an invitation activates immediately."""
    bob = make_local_member("bob")
    services.invite(group, bob, by=secretary)
    assert services.membership_of(bob, group).state == MembershipState.INVITED
    services.request_membership(bob, group)
    assert services.is_member(bob, group)
    assert Follow.objects.get(follower=bob, target=group.actor).state == FollowState.ACCEPTED


def test_membership_unique_per_group(group, make_local_member):
    """Asking twice keeps one membership row."""
    bob = make_local_member("bob")
    services.request_membership(bob, group)
    services.request_membership(bob, group)
    assert Membership.objects.filter(group=group, actor=bob).count() == 1

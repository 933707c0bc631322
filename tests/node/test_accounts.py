"""Account services: members with their actors, approval and invites."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from federation.actors import create_local_actor
from federation.models import Actor, ActorType
from node.accounts import (
    AccountError,
    InviteInvalid,
    approve_member,
    create_invite,
    create_member,
    register_member,
)
from node.models import Invite, User

pytestmark = pytest.mark.django_db


def test_create_member_creates_user_and_person_actor():
    """A new member gets a usable password and a local Person actor carrying the display name."""
    user = create_member("alice", display_name="Alice", real_name="王丽", password="s3cret-Pass!")
    assert user.check_password("s3cret-Pass!")
    assert user.real_name == "王丽"
    actor = Actor.objects.get(user=user)
    assert actor.local and actor.type == ActorType.PERSON
    assert actor.username == "alice" and actor.name == "Alice"
    assert actor.private_key_pem


def test_create_member_without_password_is_unusable():
    """``password=None`` leaves an account nobody can log into until a password is set."""
    user = create_member("bob")
    assert not user.has_usable_password()


def test_create_member_refuses_existing_member_name():
    """A second member with the same name is refused and nothing new is stored."""
    create_member("alice")
    with translation.override("en"), pytest.raises(AccountError, match="already taken"):
        create_member("alice", display_name="Other")
    assert User.objects.count() == 1
    assert Actor.objects.count() == 1


def test_create_member_refuses_group_name():
    """A name held by a local group is refused and no user is created."""
    create_local_actor(username="farmers", type=ActorType.GROUP)
    with pytest.raises(AccountError) as info:
        create_member("farmers")
    assert info.value.field == "username"
    assert not User.objects.filter(username="farmers").exists()


@pytest.mark.parametrize("name", ["Bad Name", "", "x" * 31, "admin", "instance.actor"])
def test_create_member_refuses_invalid_or_reserved_names(name):
    """Malformed and reserved names raise AccountError and store nothing."""
    with pytest.raises(AccountError):
        create_member(name)
    assert User.objects.count() == 0
    assert Actor.objects.count() == 0


def test_account_error_is_a_value_error():
    """Callers (CLI, admin) may catch AccountError as ValueError."""
    assert issubclass(AccountError, ValueError)


def test_register_member_approval_creates_inactive_account():
    """Approval sign-up leaves the account inactive until approve_member runs."""
    user = register_member("carol", password="pw-Long-enough-1", mode="approval")
    assert not user.is_active and user.awaiting_approval
    approve_member(user)
    user.refresh_from_db()
    assert user.is_active and not user.awaiting_approval


def test_register_member_invite_counts_uses():
    """An invite use is counted and a used-up invite is refused without creating anything."""
    invite = create_invite(None, max_uses=1)
    register_member("dave", password="pw-Long-enough-1", mode="invite", invite_code=invite.code)
    invite.refresh_from_db()
    assert invite.uses == 1
    with pytest.raises(InviteInvalid):
        register_member("erin", password="pw-Long-enough-1", mode="invite", invite_code=invite.code)
    assert not User.objects.filter(username="erin").exists()


def test_register_member_expired_invite_refused():
    """An expired invite is refused and its use count is unchanged."""
    invite = create_invite(None)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(InviteInvalid):
        register_member("frank", password="pw-Long-enough-1", mode="invite", invite_code=invite.code)
    invite.refresh_from_db()
    assert invite.uses == 0
    assert User.objects.count() == 0


def test_register_member_taken_name_does_not_consume_invite():
    """A sign-up refused for a taken name leaves the invite unused."""
    create_member("gina")
    invite = create_invite(None)
    with pytest.raises(AccountError):
        register_member("gina", password="pw-Long-enough-1", mode="invite", invite_code=invite.code)
    invite.refresh_from_db()
    assert invite.uses == 0


def test_register_member_closed_mode_refused():
    """Sign-up in closed mode is refused by the service itself."""
    with pytest.raises(AccountError):
        register_member("hank", password="pw-Long-enough-1", mode="closed")
    assert User.objects.count() == 0


def test_create_invite_rejects_zero_uses():
    """An invite must allow at least one use."""
    with pytest.raises(AccountError):
        create_invite(None, max_uses=0)
    assert Invite.objects.count() == 0

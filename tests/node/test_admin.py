"""The Django admin: every model usable, members added through create_member, operator actions."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from federation.actors import create_local_actor
from federation.models import (
    Actor,
    ActorBlock,
    ActorType,
    Delivery,
    DeliveryState,
    Domain,
    Follow,
    InboxItem,
    OutboxActivity,
)
from node.accounts import create_invite, create_member
from node.models import Invite, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    """Cheap password hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def operator(client):
    """A signed-in superuser."""
    user = create_member("boss", password="Op-password-1!", is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def rows(operator):
    """One row of every federation model, so changelists render real rows."""
    alice = create_member("alice", real_name="王丽", password="x-Long-pass-1")
    remote = Actor.objects.create(
        ap_id="https://remote.example/users/bob",
        username="bob",
        domain="remote.example",
        inbox_url="https://remote.example/users/bob/inbox",
    )
    Follow.objects.create(follower=remote, target=alice.actor)
    InboxItem.objects.create(
        activity_id="https://remote.example/activities/1",
        activity_type="Follow",
        actor_id=remote.ap_id,
        domain="remote.example",
        body="{}",
    )
    activity = OutboxActivity.objects.create(
        ap_id="http://127.0.0.1/activities/1", actor=alice.actor, type="Create", body={"type": "Create"}
    )
    delivery = Delivery.objects.create(
        activity=activity, inbox_url=remote.inbox_url, domain="remote.example", state=DeliveryState.FAILED, attempts=5
    )
    Domain.objects.create(host="remote.example")
    ActorBlock.objects.create(owner=alice.actor, target=remote)
    create_invite(operator)
    return {"alice": alice, "remote": remote, "delivery": delivery}


def test_every_registered_changelist_answers_200(client, rows):
    """Each model registered in the admin has a working changelist and change page for a superuser."""
    registered = admin.site._registry
    for model in (User, Invite, Actor, Follow, InboxItem, OutboxActivity, Delivery, Domain, ActorBlock):
        assert model in registered, model
    for model in registered:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            assert client.get(change).status_code == 200, change


def test_actor_admin_never_shows_private_key(client, rows):
    """The actor change page shows the public key but never the private key."""
    actor = rows["alice"].actor
    html = client.get(reverse("admin:federation_actor_change", args=[actor.pk])).content.decode()
    assert "BEGIN PUBLIC KEY" in html
    assert "PRIVATE KEY" not in html
    assert client.get(reverse("admin:federation_actor_add")).status_code == 403


def test_admin_add_member_creates_actor(client, operator):
    """Adding a member in the admin goes through create_member, so the Person actor exists."""
    response = client.post(
        reverse("admin:node_user_add"),
        {
            "username": "carol",
            "display_name": "Carol",
            "real_name": "玉香",
            "email": "",
            "phone": "",
            "usable_password": "true",
            "password1": "Bamboo-shoots-8!",
            "password2": "Bamboo-shoots-8!",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="carol")
    assert user.check_password("Bamboo-shoots-8!") and user.real_name == "玉香"
    assert Actor.objects.filter(user=user, type=ActorType.PERSON, name="Carol").exists()


def test_admin_add_member_refuses_group_name(client, operator):
    """The admin refuses a name held by a group with a form error and stores nothing."""
    create_local_actor(username="farmers", type=ActorType.GROUP)
    response = client.post(
        reverse("admin:node_user_add"),
        {"username": "farmers", "usable_password": "false", "password1": "", "password2": ""},
    )
    assert response.status_code == 200
    assert "username" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="farmers").exists()
    assert Actor.objects.filter(username="farmers").count() == 1


def test_admin_approve_action_activates_members(client, operator):
    """The approve action activates the members awaiting approval."""
    waiting = create_member("waiting", is_active=False, awaiting_approval=True)
    response = client.post(
        reverse("admin:node_user_changelist"), {"action": "approve_selected", "_selected_action": [waiting.pk]}
    )
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.is_active and not waiting.awaiting_approval


def test_admin_add_invite_records_operator(client, operator):
    """An invite added in the admin gets a code and records who created it."""
    response = client.post(reverse("admin:node_invite_add"), {"max_uses": "3", "expires_at_0": "", "expires_at_1": ""})
    assert response.status_code == 302
    invite = Invite.objects.get()
    assert invite.created_by == operator and invite.max_uses == 3 and invite.code
    html = client.get(reverse("admin:node_invite_change", args=[invite.pk])).content.decode()
    assert f"/accounts/signup?invite={invite.code}" in html


def test_admin_add_invite_refuses_zero_uses(client, operator):
    """An invite allowing no use is refused with a form error."""
    response = client.post(reverse("admin:node_invite_add"), {"max_uses": "0", "expires_at_0": "", "expires_at_1": ""})
    assert response.status_code == 200
    assert Invite.objects.count() == 0


def test_delivery_retry_now_action(client, rows):
    """Retry now makes a failed delivery pending and due immediately."""
    delivery = rows["delivery"]
    before = timezone.now()
    response = client.post(
        reverse("admin:federation_delivery_changelist"), {"action": "retry_now", "_selected_action": [delivery.pk]}
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING
    assert before <= delivery.next_attempt_at <= timezone.now()


def test_domain_block_and_unblock_actions(client, rows):
    """Operators block and unblock domains from the changelist."""
    domain = Domain.objects.get(host="remote.example")
    url = reverse("admin:federation_domain_changelist")
    client.post(url, {"action": "block", "_selected_action": [domain.pk]})
    domain.refresh_from_db()
    assert domain.blocked
    client.post(url, {"action": "unblock", "_selected_action": [domain.pk]})
    domain.refresh_from_db()
    assert not domain.blocked


def test_admin_refused_to_ordinary_member(client):
    """A member without staff status is sent to the admin login."""
    member = create_member("plain", password="x-Long-pass-1")
    client.force_login(member)
    response = client.get(reverse("admin:federation_actor_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]

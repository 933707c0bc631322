"""The `federation` operator command: block, unblock, deliveries, retry, follow, rotate-key."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from federation.keys import load_public_key
from federation.models import Delivery, DeliveryState, Domain, Follow, FollowState, OutboxActivity
from federation.outbox import publish
from federation.policy import is_blocked

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("federation", *args, stdout=out)
    return out.getvalue()


def test_block_covers_subdomains_and_cancels_pending_deliveries(local_member, make_remote_actor):
    """Blocking a domain blocks its subdomains and cancels what was waiting to go there."""
    remote, _ = make_remote_actor("bob", domain="social.spam.example")
    publish({"id": "http://127.0.0.1:8000/a/1", "type": "Follow"}, actor=local_member, inboxes=[remote.inbox_url])
    assert "blocked spam.example" in run("block", "Spam.Example.", "--reason", "spam")
    assert is_blocked("social.spam.example") and is_blocked("spam.example")
    assert not is_blocked("example")
    assert Delivery.objects.get().state == DeliveryState.CANCELLED
    assert Domain.objects.get(host="spam.example").block_reason == "spam"
    assert run("unblock", "spam.example").strip() == "unblocked"
    assert not is_blocked("social.spam.example")
    assert run("unblock", "spam.example").strip() == "was not blocked"


def test_deliveries_lists_rows_filtered_by_state(local_member, make_remote_actor):
    """`deliveries --state pending` lists pending deliveries with their inbox."""
    remote, _ = make_remote_actor("bob")
    publish({"id": "http://127.0.0.1:8000/a/2", "type": "Follow"}, actor=local_member, inboxes=[remote.inbox_url])
    listing = run("deliveries", "--state", "pending")
    assert remote.inbox_url in listing and "Follow" in listing
    assert run("deliveries", "--state", "delivered") == ""


def test_retry_makes_failed_deliveries_due(local_member, make_remote_actor):
    """`retry DOMAIN` turns failed deliveries to that domain back into due pending ones."""
    remote, _ = make_remote_actor("bob")
    publish({"id": "http://127.0.0.1:8000/a/3", "type": "Follow"}, actor=local_member, inboxes=[remote.inbox_url])
    Delivery.objects.update(state=DeliveryState.FAILED, attempts=9)
    assert run("retry", "remote.example").startswith("1 deliveries")
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 0


def test_follow_of_local_member_is_accepted_at_once(local_member, make_local_member):
    """Following an unlocked member of this node needs no network and is accepted."""
    make_local_member("dora")
    assert "accepted" in run("follow", "alice", "dora@127.0.0.1:8000")
    assert Follow.objects.get().state == FollowState.ACCEPTED
    assert run("unfollow", "alice", "dora@127.0.0.1:8000").strip() == "unfollowed"
    assert not Follow.objects.exists()


def test_follow_errors_are_command_errors(local_member):
    """Unknown local user or unknown local target: a CommandError naming the problem."""
    with pytest.raises(CommandError, match="No local account"):
        run("follow", "ghost", "alice@127.0.0.1:8000")
    with pytest.raises(CommandError, match="nobody"):
        run("follow", "alice", "nobody@127.0.0.1:8000")
    with pytest.raises(CommandError, match="itself"):
        run("follow", "alice", "alice@127.0.0.1:8000")


def test_rotate_key_replaces_the_key_and_announces_it_to_followers(local_member, make_remote_actor):
    """rotate-key gives a new key pair and queues Update{Person} to every follower's inbox."""
    old_pem = local_member.public_key_pem
    remote, _ = make_remote_actor("bob")
    Follow.objects.create(follower=remote, target=local_member, state=FollowState.ACCEPTED)
    run("rotate-key", "alice")
    local_member.refresh_from_db()
    assert local_member.public_key_pem != old_pem
    load_public_key(local_member.public_key_pem)
    update = OutboxActivity.objects.get(type="Update")
    assert update.body["object"]["publicKey"]["publicKeyPem"] == local_member.public_key_pem
    assert "PRIVATE" not in str(update.body)
    assert Delivery.objects.get(activity=update).inbox_url == remote.shared_inbox_url

"""Transfers between groups: local→local in one transaction, local→remote via Offer/Accept,
remote→local Offers accepted by our officers, and the permission and answer checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from federation.inbound import process_item
from federation.models import ActorType, Follow, InboxItem, OutboxActivity
from groups import dues, transfers
from groups.models import Membership, MembershipState, Transfer, TransferState
from groups.services import is_member, membership_of
from tests.microblog.api.conftest import make_token, oauth_app  # noqa: F401 - fixtures


def deliver(activity: dict, actor) -> InboxItem:
    """Run ``activity`` from ``actor`` through the inbox worker as a verified item would be."""
    item = InboxItem.objects.create(
        activity_id=activity["id"], activity_type=activity["type"], actor_id=actor.ap_id, domain=actor.domain,
        body=json.dumps(activity),
    )  # fmt: skip
    process_item(item)
    item.refresh_from_db()
    return item


@pytest.fixture
def two_branches(make_group, make_member, make_local_member):
    """Branches x and y on this node, each with a secretary; bob is an active member of x with a
    verified real name, an old join date, a past role and paid dues."""
    x, y = make_group("xbranch"), make_group("ybranch")
    bob = make_local_member("bob")
    membership = make_member(x, bob)
    membership.joined_at = datetime(2010, 7, 1, tzinfo=UTC)
    membership.real_name_verified = True
    membership.history = [{"event": "role", "role": "committee_member", "at": "2015-01-01T00:00:00+00:00"}]
    membership.save()
    x_sec = x.memberships.get(role="secretary").actor
    dues.record_dues(x_sec, x, bob, month="2025-01", amount_due="5", amount_paid="5")
    return x, y, bob


def sec(group):
    return group.memberships.get(role="secretary").actor


def test_local_transfer_completes_atomically(two_branches):
    """X approves, Y accepts: bob is active in Y with his history and transferred out of X, and
    at every step a member of exactly one of them."""
    x, y, bob = two_branches
    transfer = transfers.request_transfer(bob, bob, x, y, reason="搬家")
    transfers.approve_transfer(sec(x), transfer)
    assert is_member(bob, x) and not is_member(bob, y)
    transfer.refresh_from_db()
    assert transfer.state == TransferState.OFFERED and transfer.record["duesPaidUpTo"] == "2025-01"
    transfers.accept_transfer(sec(y), transfer)
    assert not is_member(bob, x) and is_member(bob, y)
    assert membership_of(bob, x).state == MembershipState.TRANSFERRED_OUT
    into = membership_of(bob, y)
    assert into.joined_at == datetime(2010, 7, 1, tzinfo=UTC) and into.real_name_verified
    assert into.role == "member" and into.history[-1]["event"] == "transferred_in"
    assert "committee_member" in into.history[-1]["roles"]
    assert Follow.objects.filter(follower=bob, target=y.actor).exists()
    assert not Follow.objects.filter(follower=bob, target=x.actor).exists()
    assert not OutboxActivity.objects.filter(type__in=["Offer", "Accept"]).exists()


def test_local_transfer_rolls_back_on_failure(two_branches, monkeypatch):
    """If marking X fails mid-accept, nothing changes: bob stays in X only and the transfer stays offered."""
    x, y, bob = two_branches
    transfer = transfers.request_transfer(bob, bob, x, y)
    transfers.approve_transfer(sec(x), transfer)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(transfers, "mark_transferred_out", boom)
    with pytest.raises(RuntimeError):
        transfers.accept_transfer(sec(y), transfer)
    assert is_member(bob, x) and not is_member(bob, y)
    assert Transfer.objects.get().state == TransferState.OFFERED


def test_transfer_permissions_across_groups(two_branches, make_local_member, make_member):
    """Only X's officers approve and only Y's accept; plain members and strangers can't request for others."""
    x, y, bob = two_branches
    carol = make_local_member("carol")
    make_member(x, carol)
    with pytest.raises(PermissionDenied):
        transfers.request_transfer(carol, bob, x, y)
    transfer = transfers.request_transfer(bob, bob, x, y)
    for actor in (bob, carol, sec(y)):
        with pytest.raises(PermissionDenied):
            transfers.approve_transfer(actor, transfer)
    transfer.refresh_from_db()
    assert transfer.state == TransferState.REQUESTED
    transfers.approve_transfer(sec(x), transfer)
    for actor in (bob, sec(x)):
        with pytest.raises(PermissionDenied):
            transfers.accept_transfer(actor, transfer)
    with pytest.raises(transfers.TransferError):
        transfers.cancel_transfer(bob, transfer)  # once offered only Y decides
    assert is_member(bob, x) and not is_member(bob, y)


def test_second_open_transfer_refused(two_branches):
    """A member has at most one open transfer from a group."""
    x, y, bob = two_branches
    transfers.request_transfer(bob, bob, x, y)
    with pytest.raises(transfers.TransferError):
        transfers.request_transfer(bob, bob, x, y)
    assert Transfer.objects.count() == 1


# ---------------------------------------------------------------- across nodes


@pytest.fixture
def remote_y(settings, fake_server, make_remote_actor):
    """A remote group Y served by the loopback fake server, whose inbox accepts deliveries."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    actor, _ = make_remote_actor("ybranch", domain=fake_server.netloc, scheme="http", type=ActorType.GROUP)
    fake_server.route("POST", "/users/ybranch/inbox", status=202)
    return actor


def _answer(kind: str, actor, offer_id: str, embed: bool = False) -> dict:
    obj = {"id": offer_id, "type": "Offer"} if embed else offer_id
    return {"id": f"{actor.ap_id}#{kind}-{offer_id[-8:]}", "type": kind, "actor": actor.ap_id, "object": obj}


def test_remote_transfer_offer_then_accept(
    two_branches, remote_y, fake_server, make_remote_actor, django_capture_on_commit_callbacks
):
    """X sends Y an Offer with the membership record; a wrong actor's Accept is refused; Y's
    Accept marks bob transferred out of X."""
    x, _, bob = two_branches
    transfer = transfers.request_transfer(sec(x), bob, x, remote_y.ap_id)
    with django_capture_on_commit_callbacks(execute=True):
        transfers.approve_transfer(sec(x), transfer)
    posted = fake_server.requests_to("/users/ybranch/inbox", "POST")
    assert len(posted) == 1 and posted[0].header("signature")
    offer = posted[0].json()
    record = offer["object"]
    assert offer["type"] == "Offer" and offer["actor"] == x.actor.ap_id and offer["target"] == remote_y.ap_id
    assert record["type"] == "redcloud:MembershipRecord" and record["redcloud:member"] == bob.ap_id
    assert record["redcloud:joinedAt"].startswith("2010-07-01") and record["redcloud:realNameVerified"] is True
    assert record["redcloud:duesPaidUpTo"] == "2025-01" and "committee_member" in record["redcloud:roles"]
    assert is_member(bob, x)

    mallory, _ = make_remote_actor("mallory", domain="evil.example", type=ActorType.GROUP)
    item = deliver(_answer("Accept", mallory, offer["id"]), mallory)
    assert item.state == "rejected" and is_member(bob, x)
    assert Transfer.objects.get().state == TransferState.OFFERED

    item = deliver(_answer("Accept", remote_y, offer["id"]), remote_y)
    assert item.state == "processed", item.error
    assert membership_of(bob, x).state == MembershipState.TRANSFERRED_OUT
    assert Transfer.objects.get().state == TransferState.ACCEPTED
    replay = deliver({**_answer("Accept", remote_y, offer["id"], embed=True), "id": "https://x/replay"}, remote_y)
    assert replay.state == "processed" and Transfer.objects.get().state == TransferState.ACCEPTED


def test_remote_transfer_rejected_keeps_member(two_branches, remote_y, hold):
    """Y's Reject leaves bob an active member of X and the transfer rejected."""
    x, _, bob = two_branches
    transfer = transfers.request_transfer(bob, bob, x, remote_y.ap_id)
    transfers.approve_transfer(sec(x), transfer)
    transfer.refresh_from_db()
    item = deliver(_answer("Reject", remote_y, transfer.offer_ap_id, embed=True), remote_y)
    assert item.state == "processed", item.error
    assert is_member(bob, x) and Transfer.objects.get().state == TransferState.REJECTED


@pytest.fixture
def hold(monkeypatch):
    """Deliveries stay pending: no traffic leaves the test."""
    from federation import outbox

    monkeypatch.setattr(outbox, "deliver_activity_task", type("T", (), {"delay": staticmethod(lambda *a: None)}))


def _offer(x_actor, member, target, **record) -> dict:
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", {"redcloud": "https://redcloud.example/ns#"}],
        "id": f"{x_actor.ap_id}/offers/1",
        "type": "Offer",
        "actor": x_actor.ap_id,
        "target": target.ap_id,
        "to": [target.ap_id],
        "object": {
            "id": f"{x_actor.ap_id}/offers/1#record",
            "type": "redcloud:MembershipRecord",
            "redcloud:member": member.ap_id,
            "redcloud:joinedAt": "2001-07-01T00:00:00+00:00",
            "redcloud:roles": ["secretary", "member"],
            "redcloud:realNameVerified": True,
            "redcloud:duesPaidUpTo": "2025-04",
            "redcloud:history": [{"event": "founded", "at": "2001-07-01T00:00:00+00:00", "role": "secretary"}],
            **record,
        },
    }


def test_remote_offer_accepted_by_our_officer(make_group, make_remote_actor, make_local_member, make_member, hold):
    """A remote group's Offer waits for our officer; a plain member can't accept; the secretary's
    Accept activates the member with the carried history and answers X with Accept."""
    y = make_group("ybranch")
    x_actor, _ = make_remote_actor("xbranch", domain="county-a.example", type=ActorType.GROUP)
    bob, _ = make_remote_actor("bob", domain="county-a.example")
    item = deliver(_offer(x_actor, bob, y.actor), x_actor)
    assert item.state == "processed", item.error
    transfer = Transfer.objects.get()
    assert transfer.state == TransferState.OFFERED and not is_member(bob, y)

    plain = make_local_member("plain")
    make_member(y, plain)
    with pytest.raises(PermissionDenied):
        transfers.accept_transfer(plain, transfer)
    assert not is_member(bob, y)

    transfers.accept_transfer(sec(y), transfer)
    membership = membership_of(bob, y)
    assert membership.active and membership.joined_at == datetime(2001, 7, 1, tzinfo=UTC)
    assert membership.real_name_verified and membership.history[0]["event"] == "founded"
    assert membership.history[-1]["duesPaidUpTo"] == "2025-04"
    answer = OutboxActivity.objects.get(type="Accept", object_ap_id=transfer.offer_ap_id)
    assert answer.body["object"]["id"] == transfer.offer_ap_id and answer.body["actor"] == y.actor.ap_id
    assert answer.deliveries.get().inbox_url == x_actor.inbox_url


def test_remote_offer_refused_from_non_group_or_wrong_target(make_group, make_remote_actor):
    """An Offer from a person, or for a group not on this node, is rejected and stores nothing."""
    y = make_group("ybranch")
    person, _ = make_remote_actor("eve", domain="county-a.example")
    other, _ = make_remote_actor("zbranch", domain="county-c.example", type=ActorType.GROUP)
    x_actor, _ = make_remote_actor("xbranch", domain="county-a.example", type=ActorType.GROUP)
    assert deliver(_offer(person, person, y.actor), person).state == "rejected"
    assert (
        deliver({**_offer(x_actor, person, other), "id": "https://county-a.example/o/2"}, x_actor).state == "rejected"
    )
    assert not Transfer.objects.exists() and not Membership.objects.filter(actor=person).exists()


def test_api_transfer_flow_and_status(two_branches, make_token):  # noqa: F811
    """Over the API the member requests and follows the status; officers approve and accept."""
    x, y, bob = two_branches
    client = Client()

    def auth(actor):
        return {"HTTP_AUTHORIZATION": f"Bearer {make_token(actor)}"}

    made = client.post(
        f"/api/v1/groups/{x.pk}/transfers", {"target": str(y.pk)}, content_type="application/json", **auth(bob)
    )
    assert made.status_code == 200, made.content
    tid = made.json()["id"]
    assert client.post(f"/api/v1/transfers/{tid}/approve", **auth(bob)).status_code == 403
    assert client.post(f"/api/v1/transfers/{tid}/approve", **auth(sec(x))).json()["state"] == "offered"
    assert client.get("/api/v1/transfers", **auth(bob)).json()[0]["state"] == "offered"
    assert client.post(f"/api/v1/transfers/{tid}/accept", **auth(sec(y))).json()["state"] == "accepted"
    assert client.get(f"/api/v1/transfers/{tid}", **auth(bob)).json()["state"] == "accepted"
    assert is_member(bob, y) and not is_member(bob, x)


def test_transfers_page_shows_status_and_decisions(two_branches, client):
    """The member asks on the page and sees the status; X's secretary approves from the page."""
    x, y, bob = two_branches
    url = f"/g/{x.actor.username}/transfers"
    client.force_login(bob.user)
    client.post(url, {"target": y.actor.username, "reason": "工作调动"})
    transfer = Transfer.objects.get()
    assert transfer.target == y.actor and "offered" not in client.get(url).content.decode()
    client.force_login(sec(x).user)
    client.post(f"{url}/{transfer.pk}/approve")
    transfer.refresh_from_db()
    assert transfer.state == TransferState.OFFERED
    client.force_login(bob.user)
    assert client.post(f"{url}/{transfer.pk}/accept").status_code == 403
    assert is_member(bob, x) and not is_member(bob, y)

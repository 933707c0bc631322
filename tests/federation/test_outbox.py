"""The outbox: publish stores one activity and one delivery per inbox in the caller's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from federation import outbox
from federation.models import Delivery, DeliveryState, Follow, FollowState, OutboxActivity
from federation.outbox import cancel_deliveries, inboxes_for_followers, publish
from federation.policy import block_domain, forget_blocks
from tests.federation.fakeserver import FakeServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loopback(settings):
    """Fake inboxes live on loopback; our node is elsewhere; no stale block list between tests."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    settings.FEDERATION_DELIVERY_TIMEOUT = 2.0
    settings.NODE_DOMAIN = "county.test"
    forget_blocks()
    yield
    forget_blocks()


@pytest.fixture
def fake_server():
    """A fake remote server on loopback."""
    with FakeServer() as server:
        yield server


def _note(n: int = 1, type: str = "Create", obj: str = "https://county.test/objects/1") -> dict:
    return {"id": f"https://county.test/activities/{type.lower()}-{n}", "type": type, "object": obj}


def test_publish_stores_activity_and_deliveries_when_called(local_member):
    """One OutboxActivity and one pending Delivery per distinct inbox are stored."""
    outbox = publish(
        _note(), actor=local_member, inboxes=["https://a.example/inbox", "https://b.example/inbox"], public=True
    )
    assert OutboxActivity.objects.get().pk == outbox.pk
    assert outbox.type == "Create" and outbox.public is True and outbox.actor == local_member
    rows = Delivery.objects.order_by("domain")
    assert [(d.inbox_url, d.domain, d.state) for d in rows] == [
        ("https://a.example/inbox", "a.example", DeliveryState.PENDING),
        ("https://b.example/inbox", "b.example", DeliveryState.PENDING),
    ]


def test_publish_stores_and_sends_nothing_when_caller_rolls_back(
    local_member, fake_server, django_capture_on_commit_callbacks
):
    """A rolled-back caller transaction leaves no outbox row, no delivery and no request."""
    fake_server.route("POST", "/inbox", status=202)

    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom), transaction.atomic():
        publish(_note(), actor=local_member, inboxes=[fake_server.url("/inbox")])
        raise Boom
    assert callbacks == []
    assert OutboxActivity.objects.count() == 0
    assert Delivery.objects.count() == 0
    assert fake_server.requests == []


def test_publish_sends_after_commit_when_caller_commits(local_member, fake_server, django_capture_on_commit_callbacks):
    """The delivery task runs only on commit and then POSTs the activity."""
    fake_server.route("POST", "/inbox", status=202)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        publish(_note(), actor=local_member, inboxes=[fake_server.url("/inbox")])
        assert fake_server.requests == []
    assert len(callbacks) == 1
    assert len(fake_server.requests_to("/inbox", "POST")) == 1
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_publish_adds_no_rows_when_id_published_twice(local_member):
    """Publishing the same activity id again returns the stored row and adds nothing."""
    first = publish(_note(), actor=local_member, inboxes=["https://a.example/inbox"])
    again = publish(_note(), actor=local_member, inboxes=["https://a.example/inbox", "https://c.example/inbox"])
    assert again.pk == first.pk
    assert OutboxActivity.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_publish_dedupes_shared_inboxes_when_followers_share_one(local_member, make_remote_actor):
    """Followers on one server sharing an inbox get a single delivery."""
    bob, _ = make_remote_actor("bob", "remote.example")
    carol, _ = make_remote_actor("carol", "remote.example")
    publish(_note(), actor=local_member, inboxes=[bob.delivery_inbox, carol.delivery_inbox, bob.delivery_inbox])
    assert list(Delivery.objects.values_list("inbox_url", flat=True)) == ["https://remote.example/inbox"]


def test_publish_skips_targets_when_own_or_blocked_domain(local_member):
    """Inboxes on our own domain and on blocked domains (subdomains too) get no delivery."""
    block_domain("blocked.example")
    publish(
        _note(),
        actor=local_member,
        inboxes=[
            "http://county.test/inbox",
            "https://blocked.example/inbox",
            "https://sub.blocked.example/inbox",
            "not a url",
            "https://ok.example/inbox",
        ],
    )
    assert list(Delivery.objects.values_list("domain", flat=True)) == ["ok.example"]


def test_publish_queues_nothing_when_no_target_remains(local_member, django_capture_on_commit_callbacks):
    """An activity with no remote audience is stored without scheduling a task."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish(_note(), actor=local_member, inboxes=["http://county.test/inbox"])
    assert callbacks == []
    assert OutboxActivity.objects.count() == 1
    assert Delivery.objects.count() == 0


def test_cancel_deliveries_spares_delete_when_object_deleted(local_member):
    """Pending deliveries about a deleted object are cancelled, but not those of the Delete itself."""
    obj = "https://county.test/objects/7"
    inbox = ["https://a.example/inbox"]
    publish(_note(1, "Create", obj), actor=local_member, inboxes=inbox, object_ap_id=obj)
    publish(_note(2, "Update", obj), actor=local_member, inboxes=inbox, object_ap_id=obj)
    publish(_note(3, "Create", "https://county.test/objects/8"), actor=local_member, inboxes=inbox, object_ap_id="x:8")
    delete = publish(_note(4, "Delete", obj), actor=local_member, inboxes=inbox, object_ap_id=obj)
    delivered = publish(_note(5, "Like", obj), actor=local_member, inboxes=inbox, object_ap_id=obj)
    Delivery.objects.filter(activity=delivered).update(state=DeliveryState.DELIVERED)

    assert cancel_deliveries(obj) == 2
    states = {d.activity.ap_id.rsplit("/", 1)[1]: d.state for d in Delivery.objects.select_related("activity")}
    assert states == {
        "create-1": DeliveryState.CANCELLED,
        "update-2": DeliveryState.CANCELLED,
        "create-3": DeliveryState.PENDING,
        "delete-4": DeliveryState.PENDING,
        "like-5": DeliveryState.DELIVERED,
    }
    assert Delivery.objects.get(activity=delete).state == DeliveryState.PENDING


def test_inboxes_for_followers_lists_remote_accepted_when_mixed(local_member, make_remote_actor, make_local_member):
    """Only accepted remote followers count, shared inboxes first and each inbox once."""
    bob, _ = make_remote_actor("bob", "remote.example")
    carol, _ = make_remote_actor("carol", "remote.example")
    dave, _ = make_remote_actor("dave", "other.example")
    dave.shared_inbox_url = ""
    dave.save()
    erin, _ = make_remote_actor("erin", "pending.example")
    local = make_local_member("frank")
    for follower, state in ((bob, FollowState.ACCEPTED), (carol, FollowState.ACCEPTED), (dave, FollowState.ACCEPTED)):
        Follow.objects.create(follower=follower, target=local_member, state=state)
    Follow.objects.create(follower=erin, target=local_member, state=FollowState.PENDING)
    Follow.objects.create(follower=local, target=local_member, state=FollowState.ACCEPTED)
    assert inboxes_for_followers(local_member) == [
        "https://remote.example/inbox",
        "https://other.example/users/dave/inbox",
    ]


def test_publish_queues_one_task_when_siblings_share_a_transaction(
    local_member, monkeypatch, django_capture_on_commit_callbacks
):
    """Two activities of one actor about one object published together queue one delivery task (it
    carries both, ``deliver_activity``'s siblings); an unrelated activity gets its own."""
    queued: list[int] = []
    monkeypatch.setattr(outbox.deliver_activity_task, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = publish(
            _note(1, "Announce"),
            actor=local_member,
            inboxes=["https://a.example/inbox"],
            object_ap_id="https://county.test/objects/9",
        )
        publish(
            _note(2, "Announce"),
            actor=local_member,
            inboxes=["https://a.example/inbox"],
            object_ap_id="https://county.test/objects/9",
        )
        other = publish(
            _note(3),
            actor=local_member,
            inboxes=["https://a.example/inbox"],
            object_ap_id="https://county.test/objects/8",
        )
    assert queued == [first.pk, other.pk]


def test_publish_queues_the_surviving_sibling_when_the_first_rolls_back(
    local_member, monkeypatch, django_capture_on_commit_callbacks
):
    """A sibling rolled back to a savepoint does not take the other's delivery task with it."""
    queued: list[int] = []
    monkeypatch.setattr(outbox.deliver_activity_task, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                publish(
                    _note(1, "Announce"),
                    actor=local_member,
                    inboxes=["https://a.example/inbox"],
                    object_ap_id="https://county.test/objects/9",
                )
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        second = publish(
            _note(2, "Announce"),
            actor=local_member,
            inboxes=["https://a.example/inbox"],
            object_ap_id="https://county.test/objects/9",
        )
    assert queued == [second.pk]

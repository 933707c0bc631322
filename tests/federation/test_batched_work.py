"""Batched worker paths: one inbox item failing never undoes its neighbours; delivery batches
carry sibling activities and record host health in few statements."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federation import registry
from federation.inbound import drain_inbox
from federation.models import Delivery, DeliveryState, Domain, InboxItem, InboxItemState
from federation.outbox import publish
from federation.policy import forget_blocks
from federation.tasks import deliver_activity_task
from federation.transport import get_transport
from tests.federation.fakeserver import FakeServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(make_remote_actor):
    actor, _ = make_remote_actor("carol")
    return actor


def _store(actor, n: int) -> InboxItem:
    activity = {"id": f"{actor.ap_id}/likes/{n}", "type": "Like", "actor": actor.ap_id}
    return InboxItem.objects.create(
        activity_id=activity["id"], activity_type="Like", actor_id=actor.ap_id, domain=actor.domain,
        body=json.dumps(activity),
    )  # fmt: skip


@pytest.fixture
def writing_handler():
    """A 'Like' handler that writes a Domain row named after the activity, failing on demand."""
    failing: set[str] = set()

    def handle(activity, actor):
        n = activity["id"].rsplit("/", 1)[1]
        Domain.objects.create(host=f"like-{n}.test")
        if activity["id"] in failing:
            raise RuntimeError("handler broke after writing")

    saved = dict(registry._handlers)
    registry._handlers[("Like", None)] = handle
    yield failing
    registry._handlers.clear()
    registry._handlers.update(saved)


def test_drain_keeps_neighbours_when_one_item_fails_in_a_batch(sender, writing_handler):
    """A failing item's writes are undone and it is retried; the items around it in the same batch commit."""
    items = [_store(sender, n) for n in range(3)]
    writing_handler.add(items[1].activity_id)
    assert drain_inbox() == 3
    states = {i.pk: i.state for i in InboxItem.objects.all()}
    assert [states[i.pk] for i in items] == [
        InboxItemState.PROCESSED,
        InboxItemState.RECEIVED,
        InboxItemState.PROCESSED,
    ]
    assert set(Domain.objects.filter(host__startswith="like-").values_list("host", flat=True)) == {
        "like-0.test",
        "like-2.test",
    }
    assert "handler broke" in InboxItem.objects.get(pk=items[1].pk).error


@pytest.fixture
def inboxes(settings):
    """Three fake inboxes on three loopback hosts answering 202, stopped afterwards."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    settings.FEDERATION_DELIVERY_TIMEOUT = 1.0
    settings.NODE_DOMAIN = "county.test"
    forget_blocks()
    servers = [FakeServer().start() for _ in range(3)]
    for server in servers:
        server.route("POST", "/inbox", status=202)
    yield servers
    for server in servers:
        server.stop()


def _publish_siblings(actor, inboxes, suffix: str, object_ap_id: str):
    """A group's two announces of one object (``create`` and ``plain``), to every fake inbox."""
    urls = [s.url("/inbox") for s in inboxes]
    return [
        publish({"id": f"http://county.test/activities/{verb}{suffix}", "type": "Announce", "actor": actor.ap_id},
                actor=actor, inboxes=urls, object_ap_id=object_ap_id)
        for verb in ("create", "plain")
    ]  # fmt: skip


def test_deliver_carries_sibling_activities_when_one_object_has_two(local_member, inboxes):
    """The task of the first of two activities about one object delivers both; the second's task finds nothing left."""
    first, second = _publish_siblings(local_member, inboxes, "", "http://county.test/objects/1")
    assert deliver_activity_task(first.pk) == 6
    assert deliver_activity_task(second.pk) == 0
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
    for server in inboxes:
        ids = [r.json()["id"] for r in server.requests_to("/inbox", "POST")]
        assert sorted(ids) == sorted([first.ap_id, second.ap_id])


def test_deliver_records_host_successes_in_one_update_when_hosts_are_healthy(local_member, inboxes):
    """First successes to several healthy hosts set ``last_success_at`` with one UPDATE, not one per host."""
    activity = publish(
        {"id": "http://county.test/activities/one", "type": "Create", "actor": local_member.ap_id},
        actor=local_member,
        inboxes=[s.url("/inbox") for s in inboxes],
        object_ap_id="http://county.test/objects/2",
    )
    with CaptureQueriesContext(connection) as ctx:
        assert deliver_activity_task(activity.pk) == 3
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('UPDATE "federation_domain"')]
    assert len(updates) == 1
    assert Domain.objects.filter(last_success_at__isnull=False).count() == 3


def test_deliver_sends_siblings_over_one_connection_per_host_when_many_hosts(local_member, inboxes, settings):
    """With more hosts than the threads need lanes, a host's two sibling deliveries go out in one lane,
    one after the other over one kept-alive connection, the older activity first."""
    settings.FEDERATION_DELIVERY_CONCURRENCY = 1  # 3 hosts for 1 thread: one lane per host
    get_transport().close()
    first, second = _publish_siblings(local_member, inboxes, "-2", "http://county.test/objects/3")
    assert deliver_activity_task(first.pk) == 6
    for server in inboxes:
        assert [r.json()["id"] for r in server.requests_to("/inbox", "POST")] == [first.ap_id, second.ap_id]
        assert server.connection_count == 1

"""Worker-side processing of stored inbox items: dispatch, outcomes, retries, the sweeper."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from federation import inbound, registry
from federation.inbound import Reject, drain_inbox, sweep_inbox
from federation.models import InboxItem, InboxItemState

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(make_remote_actor):
    actor, _ = make_remote_actor("bob")
    return actor


def store(actor, kind: str, n: int = 1, **extra) -> InboxItem:
    activity = {"id": f"{actor.ap_id}/act/{kind}/{n}", "type": kind, "actor": actor.ap_id, **extra}
    return InboxItem.objects.create(
        activity_id=activity["id"],
        activity_type=kind,
        actor_id=actor.ap_id,
        domain=actor.domain,
        body=json.dumps(activity),
    )


@pytest.fixture
def wave_handler():
    """A temporary handler for the 'Like' type that records calls and can be told to fail."""
    calls: list[str] = []
    behaviour = {"raise": None}

    def handle(activity, actor):
        calls.append(activity["id"])
        if behaviour["raise"]:
            raise behaviour["raise"]

    saved = dict(registry._handlers)
    registry._handlers[("Like", None)] = handle
    yield calls, behaviour
    registry._handlers.clear()
    registry._handlers.update(saved)


def test_drain_dispatches_and_marks_items(sender, wave_handler):
    """Handled items end processed; types nobody handles end processed with a note."""
    calls, _ = wave_handler
    like = store(sender, "Like")
    wave = store(sender, "Wave")
    assert drain_inbox() == 2
    like.refresh_from_db()
    wave.refresh_from_db()
    assert calls == [like.activity_id]
    assert like.state == InboxItemState.PROCESSED and like.error == "" and like.attempts == 1
    assert wave.state == InboxItemState.PROCESSED and "no handler for Wave" in wave.error and wave.attempts == 1


def test_rejection_is_recorded_and_not_retried(sender, wave_handler):
    """A handler's Reject ends the item as rejected with the reason."""
    _, behaviour = wave_handler
    behaviour["raise"] = Reject("not allowed")
    item = store(sender, "Like")
    drain_inbox()
    item.refresh_from_db()
    assert item.state == InboxItemState.REJECTED and item.error == "not allowed"
    assert item.next_attempt_at is None


def test_handler_error_is_retried_then_failed(sender, wave_handler):
    """An unexpected error schedules a retry; after the last retry the item is failed."""
    calls, behaviour = wave_handler
    behaviour["raise"] = RuntimeError("database hiccup")
    item = store(sender, "Like")
    drain_inbox()
    item.refresh_from_db()
    assert item.state == InboxItemState.RECEIVED and "database hiccup" in item.error
    assert item.next_attempt_at > timezone.now()
    for _ in range(5):
        InboxItem.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        drain_inbox()
    item.refresh_from_db()
    assert item.state == InboxItemState.FAILED
    assert len(calls) == 5


def test_sweeper_requeues_items_whose_lease_expired(sender, wave_handler):
    """An item leased by a worker that died is processed after its lease expires."""
    calls, _ = wave_handler
    item = store(sender, "Like")
    InboxItem.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert sweep_inbox() == 0 and calls == []
    InboxItem.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert sweep_inbox() == 1
    item.refresh_from_db()
    assert item.state == InboxItemState.PROCESSED and calls == [item.activity_id]


def test_schedule_drain_queues_nothing_when_every_slot_is_busy(sender, wave_handler, monkeypatch):
    """With all drain slots held by running drains, a new item queues no further drain task."""
    queued: list[dict] = []
    monkeypatch.setattr(inbound.drain_inbox, "delay", lambda *a, **kw: queued.append(kw))
    for slot in range(inbound.DRAIN_SLOTS):
        cache.set(inbound._slot_key(slot), 1, 60)
    inbound.schedule_drain()
    assert queued == []
    cache.delete(inbound._slot_key(1))
    inbound._last_scheduled[0] = -1e9
    inbound.schedule_drain()
    assert queued == [{"slot": 1}]


def test_drain_holds_its_slot_while_working_and_frees_it_at_the_end(sender, wave_handler):
    """A drain keeps its slot flag set while it processes a batch and releases it when the queue is empty."""
    seen: list[object] = []
    registry._handlers[("Like", None)] = lambda activity, actor: seen.append(cache.get(inbound._slot_key(1)))
    store(sender, "Like")
    assert drain_inbox(slot=1) == 1
    assert seen == [1]  # the slot was held during processing
    assert cache.get(inbound._slot_key(1)) is None


def test_sweeper_does_not_free_busy_slots(sender, wave_handler, monkeypatch):
    """The sweeper queues a drain only into a free slot: a backlog never piles drains onto the worker."""
    queued: list[dict] = []
    monkeypatch.setattr(inbound.drain_inbox, "delay", lambda *a, **kw: queued.append(kw))
    for slot in range(inbound.DRAIN_SLOTS):
        cache.set(inbound._slot_key(slot), 1, 60)
    store(sender, "Like")
    assert sweep_inbox() == 1
    assert queued == []
    assert all(cache.get(inbound._slot_key(slot)) == 1 for slot in range(inbound.DRAIN_SLOTS))


def test_item_from_sender_suspended_after_it_arrived_is_rejected(sender, wave_handler):
    """An actor suspended between the inbox's 202 and the worker's turn gets nothing processed."""
    calls, _ = wave_handler
    like = store(sender, "Like")
    sender.suspended = True
    sender.save(update_fields=["suspended"])
    drain_inbox()
    like.refresh_from_db()
    assert like.state == InboxItemState.REJECTED and "suspended" in like.error
    assert calls == []


def test_item_from_domain_blocked_after_it_arrived_is_rejected(sender, wave_handler):
    """A domain blocked between the inbox's 202 and the worker's turn gets nothing processed."""
    from federation.policy import block_domain, forget_blocks

    calls, _ = wave_handler
    like = store(sender, "Like")
    block_domain(sender.domain, "spam")
    forget_blocks()
    try:
        drain_inbox()
    finally:
        forget_blocks()
    like.refresh_from_db()
    assert like.state == InboxItemState.REJECTED and "blocked" in like.error
    assert calls == []


@pytest.mark.django_db(transaction=True)
def test_fetches_first_handler_runs_outside_the_item_transaction(sender, monkeypatch):
    """A handler marked ``registry.fetches_first`` runs with no transaction open (its fetches hold
    no database lock); an unmarked one runs inside the item's transaction."""
    from django.db import connection

    seen: dict[str, bool] = {}

    def plain(activity, actor):
        seen["plain"] = connection.in_atomic_block

    @registry.fetches_first
    def fetching(activity, actor):
        seen["fetching"] = connection.in_atomic_block

    monkeypatch.setitem(registry._handlers, ("Like", None), plain)
    monkeypatch.setitem(registry._handlers, ("Dislike", None), fetching)
    items = [store(sender, "Like"), store(sender, "Dislike")]
    for item in items:
        inbound.process_item(item)
        item.refresh_from_db()
        assert item.state == InboxItemState.PROCESSED
    assert seen == {"plain": True, "fetching": False}

"""Processing of stored inbox items by workers: claim a batch, dispatch each activity to the
handler an app registered, record the outcome (processed / rejected(reason) / failed(error)).

The inbox view schedules a drain task when one of ``DRAIN_SLOTS`` drain slots is free (a cache
flag per slot, refreshed by its drain every batch); the drain loops until nothing is due, so a
burst of N activities costs a handful of tasks, not N, and never more than ``DRAIN_SLOTS``
drains hold the worker's threads at once, whatever the backlog (the rest serve deliveries). A
beat sweeper re-queues items whose lease expired (killed worker, lost broker message).
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from federation import registry
from federation.hosts import host_of
from federation.models import Actor, Follow, InboxItem, InboxItemState, OutboxActivity
from federation.policy import is_blocked
from federation.timescale import scaled
from federation.vocab import id_of, type_of

log = logging.getLogger(__name__)

# Only these activity types are ever dispatched; anything else is stored and acknowledged.
DISPATCHED_TYPES = frozenset(
    {
        "Create", "Update", "Delete", "Follow", "Accept", "Reject", "Undo", "Announce", "Like",
        "Dislike", "EmojiReact", "Add", "Remove", "Move", "Block", "Flag", "Join", "Leave",
        "Invite", "Offer", "TentativeJoin", "TentativeAccept",
    }
)  # fmt: skip
BATCH = 200
LEASE = timedelta(minutes=5)
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
DRAIN_FLAG = "federation:inbox-drain"  # one cache key per slot: f"{DRAIN_FLAG}:{slot}"
DRAIN_SLOTS = 2  # drains at once: two overlap one's database waits; more would starve deliveries
DRAIN_FLAG_TTL = timedelta(seconds=60)  # refreshed every batch: only a dead drain's slot waits it out
LINGER_POLL = 0.01  # seconds between looks for new items while a drain lingers


class Reject(Exception):
    """A handler refuses an activity (not allowed, inconsistent): recorded, never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


DEBOUNCE = 0.5  # seconds: a process schedules at most two drains a second
_last_scheduled = [-1e9]


def _slot_key(slot: int) -> str:
    return f"{DRAIN_FLAG}:{slot}"


def _slot_ttl() -> int:
    """Seconds a slot flag lives without a refresh (scaled in tests; whole seconds for Redis)."""
    return max(2, int(scaled(DRAIN_FLAG_TTL).total_seconds()))


def _take_slot() -> int | None:
    """Take a free drain slot (atomically, across processes); ``None`` when all are busy."""
    for slot in range(DRAIN_SLOTS):
        if cache.add(_slot_key(slot), 1, _slot_ttl()):
            return slot
    return None


def schedule_drain() -> None:
    """Queue a drain task unless one was queued very recently or every drain slot is busy.

    Two levels: this process skips the shared cache entirely when it queued a drain less than
    ``DEBOUNCE`` seconds ago (no I/O on the inbox hot path), and across processes a drain is
    queued only when it can take one of the ``DRAIN_SLOTS`` slots. Nothing is missed: a drain
    lingers ``FEDERATION_DRAIN_LINGER`` (> ``DEBOUNCE``) seconds after it finds the queue empty
    and looks once more, so an item committed after a skipped schedule is still seen; the beat
    sweeper catches anything else.
    """
    now = time.monotonic()
    if now - _last_scheduled[0] < DEBOUNCE:
        return
    _last_scheduled[0] = now
    slot = _take_slot()
    if slot is not None:
        drain_inbox.delay(slot=slot)


def _claim(limit: int) -> list[InboxItem]:
    """Take up to ``limit`` due items and lease them, so a concurrent drain skips them."""
    now = timezone.now()
    due = Q(state=InboxItemState.RECEIVED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    with transaction.atomic():
        query = InboxItem.objects.filter(due).order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            query = query.select_for_update(skip_locked=True)
        items = list(query[:limit])
        if items:
            InboxItem.objects.filter(pk__in=[i.pk for i in items]).update(next_attempt_at=now + scaled(LEASE))
    return items


def object_type_of(activity: dict[str, Any]) -> str | None:
    """The type of the activity's object: embedded, or what we know of a bare id."""
    obj = activity.get("object")
    kind = type_of(obj)
    if kind:
        return kind
    ident = id_of(obj)
    if not ident:
        return None
    if Follow.objects.filter(ap_id=ident).exists():
        return "Follow"
    known = OutboxActivity.objects.filter(ap_id=ident).values_list("type", flat=True).first()
    if known:
        return str(known)
    if Actor.objects.filter(ap_id=ident).exists():
        return "Person"
    return None


_STATE_FIELDS = ["state", "state_changed_at", "attempts", "next_attempt_at", "error"]


def _finish(item: InboxItem, state: str, error: str, now: Any) -> None:
    item.state, item.error, item.state_changed_at, item.next_attempt_at = state, error[:2000], now, None
    item.save(update_fields=_STATE_FIELDS)


def process_item(
    item: InboxItem,
    *,
    actors: dict[str, Actor] | None = None,
    stored_only: list[InboxItem] | None = None,
    activity: dict[str, Any] | None = None,
) -> None:
    """Dispatch one stored activity and record its outcome on the row.

    A handler's writes and the item's new state commit together (one transaction per item, so
    one failing activity never undoes another). Items no handler wants are appended to
    ``stored_only`` when given, for the caller to mark in one UPDATE. ``actors`` caches
    actor rows across a batch; ``activity`` is the body already parsed by the caller."""
    now = timezone.now()
    item.attempts += 1
    try:
        activity = activity if activity is not None else json.loads(item.body)
        actor = actors.get(item.actor_id) if actors is not None else None
        if actor is None:
            actor = Actor.objects.get(ap_id=item.actor_id)
            if actors is not None:
                actors[item.actor_id] = actor
        # The inbox view's key-owner cache may be minutes old: re-check with the row just read.
        if actor.suspended:
            raise Reject("the sending actor is suspended on this node")
        if is_blocked(actor.domain):
            raise Reject("the sending actor's domain is blocked on this node")
        kind = activity.get("type")
        handler = registry.handler_for(kind, object_type_of(activity)) if kind in DISPATCHED_TYPES else None
        if handler is None:
            item.error = f"no handler for {kind}; stored only"[:2000]
            if stored_only is not None:
                stored_only.append(item)
            else:
                _finish(item, InboxItemState.PROCESSED, item.error, now)
            return
        if getattr(handler, "fetches_first", False):  # registry.fetches_first: its own transaction
            handler(activity, actor)
            _finish(item, InboxItemState.PROCESSED, "", now)
        else:
            with transaction.atomic():
                handler(activity, actor)
                _finish(item, InboxItemState.PROCESSED, "", now)
    except Reject as exc:
        _finish(item, InboxItemState.REJECTED, exc.reason, now)
    except Exception as exc:
        log.exception("inbox item %s failed", item.pk)
        error = f"{type(exc).__name__}: {exc}"
        if item.attempts > len(RETRY_DELAYS):
            _finish(item, InboxItemState.FAILED, error, now)
        else:
            item.error = error[:2000]
            delay = RETRY_DELAYS[item.attempts - 1]
            item.next_attempt_at = now + scaled(delay) * (1 + random.random() / 4)
            item.save(update_fields=_STATE_FIELDS)


def _parsed(item: InboxItem) -> dict[str, Any] | None:
    """The item's body as a JSON object, or None (:func:`process_item` then records why)."""
    try:
        activity = json.loads(item.body)
    except ValueError:
        return None
    return activity if isinstance(activity, dict) else None


def _bulk_candidate(
    item: InboxItem, activity: dict[str, Any] | None, actors: dict[str, Actor]
) -> tuple[Any, dict[str, Any], Actor] | None:
    """``(batch handler, activity, actor)`` when ``item`` may go through a batch handler: it
    parsed, its actor is known, allowed here (the checks of :func:`process_item`) and its
    handler has a bulk variant. Anything else goes through :func:`process_item`, which records
    the right outcome."""
    actor = actors.get(item.actor_id)
    if activity is None or actor is None or actor.suspended or is_blocked(actor.domain):
        return None
    kind = activity.get("type")
    if kind not in DISPATCHED_TYPES or not isinstance(activity.get("object"), dict):
        return None
    handler = registry.handler_for(kind, type_of(activity["object"]))
    batch = registry.batch_handler_for(handler) if handler is not None else None
    return (batch, activity, actor) if batch is not None else None


def _process_in_bulk(
    items: list[InboxItem], parsed: dict[int, dict[str, Any] | None], actors: dict[str, Actor]
) -> list[InboxItem]:
    """Run the batch handlers (``registry.register_batch_handler``) over the items that have
    one, each handler's share in one transaction, and mark what they finished processed in one
    UPDATE; returns the items left for :func:`process_item`, in order. A batch that fails rolls
    back as a whole and its items are processed one by one, so one bad activity costs only
    speed, never another activity's outcome."""
    groups: dict[Any, list[tuple[InboxItem, dict[str, Any], Actor]]] = {}
    for item in items:
        found = _bulk_candidate(item, parsed[item.pk], actors)
        if found is not None:
            groups.setdefault(found[0], []).append((item, found[1], found[2]))
    finished: set[int] = set()
    for batch, entries in groups.items():
        if len(entries) < 2:
            continue  # one item: the plain handler is as fast
        try:
            with transaction.atomic():
                results = batch([(activity, actor) for _, activity, actor in entries])
                pks = [item.pk for (item, _, _), ok in zip(entries, results, strict=True) if ok]
                InboxItem.objects.filter(pk__in=pks).update(
                    state=InboxItemState.PROCESSED,
                    state_changed_at=timezone.now(),
                    attempts=F("attempts") + 1,
                    next_attempt_at=None,
                    error="",
                )
        except Exception:
            log.warning("batch of %d inbox items failed; processing them one by one", len(entries), exc_info=True)
            continue
        finished.update(pks)
    return [item for item in items if item.pk not in finished]


def _mark_stored_only(items: list[InboxItem]) -> None:
    """One UPDATE per distinct message for items no handler processes."""
    by_error: dict[str, list[int]] = {}
    for item in items:
        by_error.setdefault(item.error, []).append(item.pk)
    now = timezone.now()
    for error, pks in by_error.items():
        InboxItem.objects.filter(pk__in=pks).update(
            state=InboxItemState.PROCESSED,
            state_changed_at=now,
            attempts=F("attempts") + 1,
            next_attempt_at=None,
            error=error,
        )


def _due() -> Q:
    return Q(state=InboxItemState.RECEIVED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))


def _linger(slot: int) -> list[InboxItem]:
    """After the queue ran dry (slot released): look every ``LINGER_POLL`` s for
    ``FEDERATION_DRAIN_LINGER`` s (once at once when it is 0) for items whose schedule was
    debounced. When some are due, this drain goes on only if it takes its slot back; if another
    drain was queued on it meanwhile, that one takes them and this one ends (so lingering drains
    never pile up and hold the worker's threads under a steady trickle)."""
    linger = float(getattr(settings, "FEDERATION_DRAIN_LINGER", 1.0))
    end = time.monotonic() + linger
    while True:
        if linger > 0:
            time.sleep(max(0.0, min(LINGER_POLL, end - time.monotonic())))
        if InboxItem.objects.filter(_due()).exists():
            return _claim(BATCH) if cache.add(_slot_key(slot), 1, _slot_ttl()) else []
        if time.monotonic() >= end:
            return []


@shared_task(name="federation.inbox.drain", ignore_result=True)
def drain_inbox(max_batches: int = 50, slot: int = 0) -> int:
    """Process due inbox items in batches until none is left (or ``max_batches``); returns count.

    Holds drain slot ``slot`` while it works (its flag is refreshed every batch, so a long
    backlog never lets more than ``DRAIN_SLOTS`` drains start) and releases it when done."""
    slot = slot % DRAIN_SLOTS
    done = 0
    for _ in range(max_batches):
        items = _claim(BATCH)
        if not items:
            cache.delete(_slot_key(slot))
            items = _linger(slot)  # an item committed while the slots were busy or the schedule skipped
            if not items:
                return done
        cache.set(_slot_key(slot), 1, _slot_ttl())  # still working: keep the slot
        actors = {a.ap_id: a for a in Actor.objects.filter(ap_id__in={i.actor_id for i in items})}
        stored_only: list[InboxItem] = []
        parsed = {item.pk: _parsed(item) for item in items}
        for item in _process_in_bulk(items, parsed, actors):
            process_item(item, actors=actors, stored_only=stored_only, activity=parsed[item.pk])
        done += len(items)
        _mark_stored_only(stored_only)
    drain_inbox.delay(max_batches, slot=slot)  # more left: continue in a fresh task, same slot
    return done


@shared_task(name="federation.inbox.sweep", ignore_result=True)
def sweep_inbox() -> int:
    """Beat job: queue a drain when items are due (lost messages, expired leases, retries)."""
    now = timezone.now()
    due = InboxItem.objects.filter(state=InboxItemState.RECEIVED).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    count = due.count()
    if count:
        # A slot whose drain died (or whose task message was lost) frees itself after
        # ``DRAIN_FLAG_TTL``; releasing busy slots here would let drains pile up under a backlog.
        schedule_drain()
    return count


def same_origin(ident: str | None, actor: Actor) -> bool:
    """True when ``ident`` is on the actor's host (what a signed activity may speak for)."""
    if not ident:
        return False
    try:
        return host_of(ident) == actor.domain.lower()
    except ValueError:
        return False

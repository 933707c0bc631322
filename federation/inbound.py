"""Processing of stored inbox items by workers: claim a batch, dispatch each activity to the
handler an app registered, record the outcome (processed / rejected(reason) / failed(error)).

The inbox view schedules at most one drain task at a time (a short cache flag); the drain
loops until nothing is due, so a burst of N activities costs a handful of tasks, not N. A beat
sweeper re-queues items whose lease expired (killed worker, lost broker message).
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
from django.db.models import Q
from django.utils import timezone

from federation import registry
from federation.hosts import host_of
from federation.models import Actor, Follow, InboxItem, InboxItemState, OutboxActivity
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
DRAIN_FLAG = "federation:inbox-drain"


class Reject(Exception):
    """A handler refuses an activity (not allowed, inconsistent): recorded, never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


DEBOUNCE = 0.5  # seconds: a process schedules at most two drains a second
_last_scheduled = [-1e9]


def schedule_drain() -> None:
    """Queue a drain task unless one was queued very recently.

    Two levels: this process skips the shared cache entirely when it queued a drain less than
    ``DEBOUNCE`` seconds ago (no I/O on the inbox hot path), and across processes the cache
    flag lets one drain be queued at a time. Nothing is missed: a drain lingers
    ``FEDERATION_DRAIN_LINGER`` (> ``DEBOUNCE``) seconds after it finds the queue empty and
    looks once more, so an item committed after a skipped schedule is still seen; the beat
    sweeper catches anything else.
    """
    now = time.monotonic()
    if now - _last_scheduled[0] < DEBOUNCE:
        return
    _last_scheduled[0] = now
    if cache.add(DRAIN_FLAG, 1, 2):
        drain_inbox.delay()


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


def process_item(item: InboxItem) -> None:
    """Dispatch one stored activity and record its outcome on the row."""
    now = timezone.now()
    item.attempts += 1
    try:
        activity = json.loads(item.body)
        actor = Actor.objects.get(ap_id=item.actor_id)
        kind = activity.get("type")
        handler = None
        if kind in DISPATCHED_TYPES:
            handler = registry.handler_for(kind, object_type_of(activity))
        if handler is None:
            item.state, item.error = InboxItemState.PROCESSED, f"no handler for {kind}; stored only"
        else:
            with transaction.atomic():
                handler(activity, actor)
            item.state, item.error = InboxItemState.PROCESSED, ""
    except Reject as exc:
        item.state, item.error = InboxItemState.REJECTED, exc.reason[:2000]
    except Exception as exc:
        log.exception("inbox item %s failed", item.pk)
        item.error = f"{type(exc).__name__}: {exc}"[:2000]
        if item.attempts > len(RETRY_DELAYS):
            item.state = InboxItemState.FAILED
        else:
            delay = RETRY_DELAYS[item.attempts - 1]
            item.next_attempt_at = now + scaled(delay) * (1 + random.random() / 4)
    if item.state != InboxItemState.RECEIVED:
        item.state_changed_at = now
        item.next_attempt_at = None
    item.save(update_fields=["state", "state_changed_at", "attempts", "next_attempt_at", "error"])


@shared_task(name="federation.inbox.drain", ignore_result=True)
def drain_inbox(max_batches: int = 50) -> int:
    """Process due inbox items in batches until none is left (or ``max_batches``); returns count."""
    done = 0
    for _ in range(max_batches):
        items = _claim(BATCH)
        if not items:
            cache.delete(DRAIN_FLAG)
            linger = float(getattr(settings, "FEDERATION_DRAIN_LINGER", 1.0))
            if linger > 0:
                time.sleep(linger)
            items = _claim(BATCH)  # an item committed while the flag was set or the schedule skipped
            if not items:
                return done
        for item in items:
            process_item(item)
            done += 1
    drain_inbox.delay(max_batches)  # more left: continue in a fresh task
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
        cache.delete(DRAIN_FLAG)
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

"""The outbox: the only way an activity leaves this node.

``publish`` stores the activity and one :class:`~federation.models.Delivery` per target inbox
in the caller's transaction and queues ``federation.deliver.activity`` after commit; the
delivery engine (``federation.delivery``) and the sweeper do the rest, so a rolled-back
change sends nothing and a lost broker message loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from federation.hosts import host_of, normalise_host
from federation.models import Actor, Delivery, DeliveryState, Follow, FollowState, OutboxActivity
from federation.policy import is_blocked
from federation.registry import has_publish_observers, notify_published
from federation.tasks import deliver_activity_task


def _own_host() -> str:
    return normalise_host(str(settings.NODE_DOMAIN))


def _targets(inboxes: Iterable[str]) -> list[tuple[str, str]]:
    """(inbox URL, host) pairs to deliver to: exact duplicates, our own domain, URLs without
    a host and blocked domains (subdomains included) are dropped; order is kept."""
    own = _own_host()
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for url in inboxes:
        url = (url or "").strip()
        if not url or url in seen:
            continue
        seen.add(url)
        try:
            host = host_of(url)
        except ValueError:
            continue
        if host == own or is_blocked(host):
            continue
        out.append((url, host))
    return out


def publish(
    activity: dict[str, Any],
    *,
    actor: Actor,
    inboxes: Iterable[str],
    object_ap_id: str = "",
    public: bool = False,
) -> OutboxActivity:
    """Store ``activity`` (sent by local ``actor``) and one pending delivery per target inbox.

    Runs inside the caller's transaction (a nested ``atomic``): if the caller rolls back,
    nothing is stored and nothing is sent. Delivery is queued on commit. Idempotent on
    ``activity["id"]``: publishing the same id again returns the stored row and adds nothing.
    Shared inboxes are deduplicated by exact URL; our own domain and blocked domains are skipped.
    """
    ap_id = str(activity["id"])
    existing = OutboxActivity.objects.filter(ap_id=ap_id).first()
    if existing is not None:
        return existing
    targets = _targets(inboxes)
    try:
        with transaction.atomic():
            outbox = OutboxActivity.objects.create(
                ap_id=ap_id,
                actor=actor,
                type=str(activity.get("type", "")),
                object_ap_id=object_ap_id,
                body=activity,
                public=public,
            )
            now = timezone.now()
            Delivery.objects.bulk_create(
                [
                    Delivery(activity=outbox, inbox_url=url, domain=host, state_changed_at=now, next_attempt_at=now)
                    for url, host in targets
                ]
            )
    except IntegrityError:  # published concurrently by another transaction
        return OutboxActivity.objects.get(ap_id=ap_id)
    if targets:
        _queue_delivery(outbox)
    if public and has_publish_observers():  # the hub's relay (node.hub_relay) watches public activities
        transaction.on_commit(lambda: notify_published(outbox))
    return outbox


class _Siblings(threading.local):
    """Per thread: activities of one actor about one object published in the transaction being
    built, (actor pk, object id) -> a one-element list, True once their delivery task is queued."""

    def __init__(self) -> None:
        self.queued: dict[tuple[int, str], list[bool]] = {}


_siblings = _Siblings()


def _queue_delivery(outbox: OutboxActivity) -> None:
    """Queue ``federation.deliver.activity`` for ``outbox`` on commit, once per group of
    siblings: the task delivers the pending rows of every activity of the same actor about the
    same object (``federation.delivery.deliver_activity``), so a group's ``Announce{Create}``
    and plain ``Announce`` published in one transaction need one task, not two racing for the
    same rows. Every activity registers its own callback (a sibling rolled back to a savepoint
    loses only its own); the first one that runs queues the task, the others see it done."""
    pk = outbox.pk
    if not outbox.object_ap_id:
        transaction.on_commit(lambda: deliver_activity_task.delay(pk))
        return
    key = (outbox.actor_id, outbox.object_ap_id)
    if len(_siblings.queued) > 1000:  # entries of rolled-back transactions
        _siblings.queued.clear()
    done = _siblings.queued.setdefault(key, [False])

    def queue() -> None:
        if _siblings.queued.get(key) is done:
            del _siblings.queued[key]
        if not done[0]:
            deliver_activity_task.delay(pk)
            done[0] = True

    transaction.on_commit(queue)


def cancel_deliveries(object_ap_id: str) -> int:
    """Cancel pending deliveries of activities about ``object_ap_id`` (Create, Update, Announce,
    Like...), except ``Delete`` activities, so deleting an object never cancels its own Delete.
    Returns how many deliveries were cancelled."""
    if not object_ap_id:
        return 0
    return (
        Delivery.objects.filter(state=DeliveryState.PENDING, activity__object_ap_id=object_ap_id)
        .exclude(activity__type="Delete")
        .update(state=DeliveryState.CANCELLED, state_changed_at=timezone.now())
    )


def inboxes_for_followers(actor: Actor) -> list[str]:
    """Delivery inboxes (shared inbox first) of ``actor``'s accepted remote followers,
    deduplicated, in a stable order."""
    rows = (
        Follow.objects.filter(target=actor, state=FollowState.ACCEPTED, follower__local=False)
        .order_by("follower_id")
        .values_list("follower__shared_inbox_url", "follower__inbox_url")
    )
    seen: dict[str, None] = {}
    for shared, inbox in rows:
        url = shared or inbox
        if url:
            seen.setdefault(url, None)
    return list(seen)

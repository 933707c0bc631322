"""What ``manage.py node status`` reports: identity, reachability and queue depths.

Broker queue depths are read where the messages are: ``LLEN`` on Redis (kombu keeps one list
per queue and priority), message files in the folder of kombu's filesystem transport (one
``<ms>_<uuid>.<queue>.msg`` file per message). Durable queues are the database rows the
sweepers re-queue from, so they survive a lost broker.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.utils import timezone

from federation.models import Delivery, DeliveryState, Domain, InboxItem, InboxItemState
from node.health import check_broker, check_database


def identity() -> dict[str, Any]:
    """The node's identity as configured (never secret values)."""
    return {
        "domain": settings.NODE_DOMAIN,
        "base_url": settings.NODE_BASE_URL,
        "name": settings.NODE_NAME,
        "role": settings.NODE_ROLE,
        "region_code": settings.NODE_REGION_CODE,
        "parent": settings.NODE_PARENT or None,
        "version": settings.NODE_VERSION,
        "devnet": bool(getattr(settings, "NODE_DEVNET", False)),
    }


def _filesystem_depths(queues: tuple[str, ...]) -> dict[str, int | None]:
    folder = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""))
    try:
        names = os.listdir(folder)
    except OSError:
        return dict.fromkeys(queues)
    counts: dict[str, int | None] = dict.fromkeys(queues, 0)
    for name in names:
        # kombu's filesystem transport matches a file to a queue the same way: after the first dot.
        queue = name.partition(".")[2].removesuffix(".msg")
        if queue in counts and name.endswith(".msg"):
            counts[queue] = (counts[queue] or 0) + 1
    return counts


def _redis_depths(queues: tuple[str, ...]) -> dict[str, int | None]:
    from node.celery import app

    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel: Any = conn.default_channel
        client = channel.client
        sep = getattr(channel, "sep", "\x06\x16")
        steps = getattr(channel, "priority_steps", [0])
        counts: dict[str, int | None] = {}
        for queue in queues:
            # kombu's Redis transport keeps priority 0 in "<queue>", others in "<queue><sep><priority>".
            keys = [queue] + [f"{queue}{sep}{step}" for step in steps if step]
            counts[queue] = sum(int(client.llen(key)) for key in keys)
    return counts


def broker_queue_depths() -> tuple[str, dict[str, int | None]]:
    """(how counted, {queue: messages waiting or None when unknown}) for ``settings.NODE_QUEUES``."""
    queues = tuple(settings.NODE_QUEUES)
    url = str(settings.CELERY_BROKER_URL)
    try:
        if url.startswith("filesystem:"):
            return "files", _filesystem_depths(queues)
        if url.startswith(("redis:", "rediss:")):
            return "llen", _redis_depths(queues)
    except Exception as exc:  # the broker is down: report unknown depths, not a traceback
        return f"n/a ({type(exc).__name__})", dict.fromkeys(queues)
    return "n/a", dict.fromkeys(queues)


def durable_queue_depths() -> dict[str, int]:
    """Counts of the database-backed work queues."""
    return {
        "inbox_received": InboxItem.objects.filter(state=InboxItemState.RECEIVED).count(),
        "inbox_failed": InboxItem.objects.filter(state=InboxItemState.FAILED).count(),
        "deliveries_pending": Delivery.objects.filter(state=DeliveryState.PENDING).count(),
        "deliveries_failed": Delivery.objects.filter(state=DeliveryState.FAILED).count(),
        "domains_unreachable": Domain.objects.filter(unreachable_since__isnull=False).count(),
    }


def collect_status() -> dict[str, Any]:
    """The whole status report as a JSON-serialisable dict; never raises for an unreachable service."""
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    method, broker_depths = (
        broker_queue_depths() if broker_ok else ("n/a (broker unreachable)", dict.fromkeys(settings.NODE_QUEUES))
    )
    report: dict[str, Any] = {
        "node": identity(),
        "database": {"ok": db_ok, "detail": db_detail, "vendor": db_detail if db_ok else None},
        "broker": {"ok": broker_ok, "detail": broker_detail},
        "queues": {"broker": {"method": method, "depths": broker_depths}, "durable": None},
        "checked_at": timezone.now().isoformat(),
    }
    if db_ok:
        try:
            report["queues"]["durable"] = durable_queue_depths()
        except Exception as exc:  # e.g. not migrated yet
            report["queues"]["durable_error"] = f"{type(exc).__name__}: {exc}"
    return report

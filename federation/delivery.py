"""Outbound delivery: sign and POST pending :class:`~federation.models.Delivery` rows.

How a batch runs (``deliver_activity`` / ``deliver_domain``, called by ``federation.tasks``):

1. **Claim** due pending rows in one short transaction: select ``state=pending`` and
   ``next_attempt_at <= now`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's IMMEDIATE
   transactions serialise claimers) and push ``next_attempt_at`` to ``now + scaled(LEASE)`` in the
   same transaction. A second task never sees a claimed row; if the worker dies the lease
   expires and the sweeper (``due_hosts``) re-queues the row. Running a task twice never
   sends a delivered row twice.
2. **Send** from a per-process thread pool (``FEDERATION_DELIVERY_CONCURRENCY``, default 16
   threads) with at most ``FEDERATION_DELIVERY_PER_HOST`` (default 4) requests in flight per
   host. Threads never touch the database: the body is serialised once per activity, the
   private key parsed once per process, connections are kept alive by the shared transport.
   A host that times out or refuses a connection is skipped for the rest of the batch, so a
   dead peer costs one timeout (``FEDERATION_DELIVERY_TIMEOUT``, default 10 s) and never
   delays the healthy hosts that the other threads serve meanwhile.
3. **Record** outcomes with one UPDATE per group of equal outcomes (usually one per batch) and at most a couple of
   queries per host whose health changed.

Outcomes: 2xx delivered; 4xx other than 408/429 failed for good; 408, 429, 5xx, other
statuses and transport errors are retried. Signature scheme: ``Domain.signature_scheme``
(draft-cavage by default); a 400/401 is retried once at once with the other scheme (RFC 9421
or cavage), and when that one is accepted the domain remembers it.

Retry schedule (``BACKOFF_SECONDS``), after failed attempt n = 1..8, ±10 % jitter:
1 min, 5 min, 15 min, 1 h, 3 h, 8 h, 16 h, 24 h; attempt 9 failing gives up, about 52 h
(``GIVE_UP_AFTER``) after the first attempt. ``Retry-After`` on 429/503 is honoured when it
is between 0 and 24 h (the later of it and the schedule wins). The sweeper runs every
minute, so a retry goes out within about a minute of its due time.

Unreachable domains: after ``UNREACHABLE_FAILURES`` (10) consecutive failed requests spread
over at least ``UNREACHABLE_AFTER`` (1 h) the domain gets ``unreachable_since``; its pending
rows are parked until ``Domain.next_probe_at`` and only one delivery per
``PROBE_INTERVAL`` (1 h) is tried. When a probe gets an HTTP answer the domain is healthy
again and all its parked deliveries are due at once. Parked deliveries of activities older
than ``GIVE_UP_AFTER`` fail.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, DateTimeField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from federation.models import Delivery, DeliveryState, Domain, OutboxActivity
from federation.policy import is_blocked
from federation.sender import ERROR_LIMIT, SCHEMES, Job, is_success, parse_retry_after, send_all
from federation.timescale import scaled, time_scale

__all__ = [
    "BatchReport",
    "backoff_delay",
    "claim_due",
    "deliver_activity",
    "deliver_domain",
    "delivery_stats",
    "due_hosts",
    "parse_retry_after",
    "process_batch",
    "retry_domain",
]

BACKOFF_SECONDS: tuple[int, ...] = (60, 300, 900, 3600, 3 * 3600, 8 * 3600, 16 * 3600, 24 * 3600)
JITTER = 0.10
GIVE_UP_AFTER = timedelta(seconds=sum(BACKOFF_SECONDS))
LEASE = timedelta(minutes=10)
UNREACHABLE_FAILURES = 10
UNREACHABLE_AFTER = timedelta(hours=1)
PROBE_INTERVAL = timedelta(hours=1)
SWEEP_GRACE = timedelta(seconds=30)
BATCH_SIZE = 500
TASK_TIME_BUDGET = 240.0  # seconds of sending per task; the rest is re-queued


@dataclass
class BatchReport:
    """What one claimed batch (or one task, summed) did."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    retrying: int = 0
    parked: int = 0
    cancelled: int = 0
    requests: int = 0
    requeue_hosts: set[str] = field(default_factory=set)

    def add(self, other: BatchReport) -> None:
        """Accumulate ``other`` into this report."""
        for name in ("claimed", "delivered", "failed", "retrying", "parked", "cancelled", "requests"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.requeue_hosts |= other.requeue_hosts


# ---------------------------------------------------------------- policy helpers


def backoff_delay(attempts: int, *, retry_after: float | None = None) -> timedelta | None:
    """Delay before the next try after failed attempt number ``attempts`` (1-based), with
    jitter; ``None`` when the schedule is exhausted and the delivery must fail."""
    if attempts > len(BACKOFF_SECONDS):
        return None
    seconds = BACKOFF_SECONDS[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER) * time_scale()
    if retry_after is not None:
        seconds = max(seconds, retry_after)
    return timedelta(seconds=seconds)


def _is_permanent(status: int | None) -> bool:
    return status is not None and 400 <= status < 500 and status not in (408, 429)


# ---------------------------------------------------------------- claiming


def claim_due(
    *,
    activity_id: int | None = None,
    activity_ids: list[int] | None = None,
    host: str | None = None,
    limit: int = BATCH_SIZE,
) -> list[Delivery]:
    """Lease up to ``limit`` due pending deliveries (of one activity, of some activities or of
    one host) to the caller, oldest activity first.

    Guarantees that no other claimer gets the same rows until ``LEASE`` has passed."""
    now = timezone.now()
    qs = Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
    if activity_id is not None:
        qs = qs.filter(activity_id=activity_id)
    if activity_ids is not None:
        qs = qs.filter(activity_id__in=activity_ids)
    if host is not None:
        qs = qs.filter(domain=host)
    if connection.vendor == "postgresql":
        return _claim_returning(qs, limit, now + scaled(LEASE))
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        ids = list(qs.order_by("next_attempt_at", "activity_id").values_list("pk", flat=True)[:limit])
        if ids:
            Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now + scaled(LEASE))
    if not ids:
        return []
    return list(Delivery.objects.filter(pk__in=ids).order_by("activity_id", "pk"))


def _claim_returning(qs: QuerySet[Delivery], limit: int, lease_until: datetime) -> list[Delivery]:
    """PostgreSQL: claim in one statement and one round trip, ``UPDATE ... WHERE id IN (SELECT
    ... FOR UPDATE SKIP LOCKED) RETURNING`` (instead of a transaction of SELECT, UPDATE and a
    re-read: one round trip instead of five on the path from a post's commit to its first delivery)."""
    inner = qs.order_by("next_attempt_at", "activity_id").values_list("pk", flat=True)[:limit]
    select, params = inner.query.sql_with_params()
    fields = Delivery._meta.concrete_fields
    qn = connection.ops.quote_name
    # Identifiers come from the model's metadata and the inner query from the ORM; values are parameters.
    sql = (
        f"UPDATE {qn(Delivery._meta.db_table)} SET {qn('next_attempt_at')} = %s "  # noqa: S608
        f"WHERE {qn('id')} IN ({select} {connection.ops.for_update_sql(skip_locked=True)}) "
        f"RETURNING {', '.join(qn(str(f.column)) for f in fields)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [lease_until, *params])
        rows = cursor.fetchall()
    names = [f.attname for f in fields]
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    out = []
    for row in rows:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i], None, connection)
        out.append(Delivery.from_db(connection.alias, names, values))
    out.sort(key=lambda d: (d.activity_id, d.pk))
    return out


def _domains_for(hosts: set[str]) -> dict[str, Domain]:
    domains = {d.host: d for d in Domain.objects.filter(host__in=hosts)}
    missing = hosts - domains.keys()
    if missing:
        Domain.objects.bulk_create([Domain(host=h) for h in missing], ignore_conflicts=True)
        domains.update({d.host: d for d in Domain.objects.filter(host__in=missing)})
    return domains


# ---------------------------------------------------------------- recording outcomes


@dataclass
class _HostStats:
    success: int = 0
    responsive: int = 0
    failures: int = 0
    last_error: str = ""


def _claim_probe(domain: Domain, now: datetime) -> bool:
    """Atomically take this hour's probe of an unreachable domain (one claimer wins)."""
    won = (
        Domain.objects.filter(pk=domain.pk)
        .filter(Q(next_probe_at__isnull=True) | Q(next_probe_at__lte=now))
        .update(next_probe_at=now + scaled(PROBE_INTERVAL))
    )
    if won:
        domain.next_probe_at = now + scaled(PROBE_INTERVAL)
    return bool(won)


def _probe_now(domain: Domain, probing: set[str], now: datetime) -> bool:
    """True for the one delivery of this batch that probes an unreachable domain."""
    if domain.host in probing or not _claim_probe(domain, now):
        return False
    probing.add(domain.host)
    return True


def _finish(delivery: Delivery, state: str, now: datetime, error: str = "") -> None:
    delivery.state = state
    delivery.state_changed_at = now
    if error:
        delivery.last_error = error[:ERROR_LIMIT]


def process_batch(deliveries: list[Delivery]) -> BatchReport:
    """Send a claimed batch and record every outcome; returns what happened.

    Guarantees that each row leaves the batch delivered, failed, cancelled or pending with a
    ``next_attempt_at`` per the schedule (or parked until its domain's next probe)."""
    report = BatchReport(claimed=len(deliveries))
    if not deliveries:
        return report
    now = timezone.now()
    hosts = {d.domain for d in deliveries}
    domains = _domains_for(hosts)
    blocked = {h for h in hosts if is_blocked(h)}
    activities = OutboxActivity.objects.select_related("actor").in_bulk({d.activity_id for d in deliveries})
    bodies: dict[int, bytes] = {}
    probing: set[str] = set()
    changed: list[Delivery] = []
    jobs: list[Job] = []
    for delivery in deliveries:
        activity, domain = activities[delivery.activity_id], domains[delivery.domain]
        changed.append(delivery)
        if delivery.domain in blocked:
            _finish(delivery, DeliveryState.CANCELLED, now, "domain blocked")
            report.cancelled += 1
        elif domain.unreachable_since is not None and not _probe_now(domain, probing, now):
            if activity.created_at < now - GIVE_UP_AFTER:
                _finish(
                    delivery, DeliveryState.FAILED, now, f"gave up: domain unreachable since {domain.unreachable_since}"
                )
                report.failed += 1
            else:
                delivery.next_attempt_at = domain.next_probe_at or now + scaled(PROBE_INTERVAL)
                report.parked += 1
        elif not activity.actor.private_key_pem:
            _finish(delivery, DeliveryState.FAILED, now, "the sending actor has no private key")
            report.failed += 1
        else:
            if activity.pk not in bodies:
                bodies[activity.pk] = json.dumps(activity.body, separators=(",", ":"), ensure_ascii=False).encode()
            jobs.append(
                Job(delivery, bodies[activity.pk], activity.actor.public_key_id, activity.actor.private_key_pem)
            )

    schemes = {h: (d.signature_scheme if d.signature_scheme in SCHEMES else SCHEMES[0]) for h, d in domains.items()}
    stats: dict[str, _HostStats] = defaultdict(_HostStats)
    delays: dict[tuple[str, int, float | None], timedelta | None] = {}
    for job, result in send_all(jobs, schemes) if jobs else []:
        delivery, st = job.delivery, stats[job.delivery.domain]
        report.requests += result.requests
        delivery.attempts += 1
        delivery.last_status = result.status
        delivery.last_error = result.error[:ERROR_LIMIT]
        if is_success(result.status):
            _finish(delivery, DeliveryState.DELIVERED, now)
            delivery.delivered_at = now
            st.success += 1
            report.delivered += 1
            continue
        if _is_permanent(result.status) or result.permanent:
            _finish(delivery, DeliveryState.FAILED, now)
            st.responsive += result.requests
            report.failed += 1
            continue
        if result.requests:
            st.failures += 1
            st.last_error = result.error
        # One jittered delay per (host, attempt) keeps rows groupable into few UPDATEs.
        key = (delivery.domain, delivery.attempts, result.retry_after)
        if key not in delays:
            delays[key] = backoff_delay(delivery.attempts, retry_after=result.retry_after)
        delay = delays[key]
        if delay is None:
            _finish(delivery, DeliveryState.FAILED, now)
            report.failed += 1
            continue
        delivery.next_attempt_at = now + delay
        probe_at = domains[delivery.domain].next_probe_at
        if domains[delivery.domain].unreachable_since is not None and probe_at and probe_at > delivery.next_attempt_at:
            delivery.next_attempt_at = probe_at
        report.retrying += 1

    _save(changed)
    seen: list[int] = []
    for host, domain in domains.items():
        _record_domain(domain, stats.get(host), schemes[host], now, report, seen)
    if seen:  # hosts whose only news is a success: one UPDATE for all of them
        Domain.objects.filter(pk__in=seen).update(last_success_at=now)
    return report


_SAVED_FIELDS = (
    "state",
    "state_changed_at",
    "attempts",
    "next_attempt_at",
    "last_status",
    "last_error",
    "delivered_at",
)


def _save(rows: list[Delivery]) -> None:
    """Write outcomes with one UPDATE per group of identical values (a batch is mostly one
    group); Django's ``bulk_update`` builds a CASE per row and cost ~4 ms a row here."""
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for row in rows:
        groups[tuple(getattr(row, name) for name in _SAVED_FIELDS)].append(row.pk)
    for values, ids in groups.items():
        for i in range(0, len(ids), BATCH_SIZE):
            Delivery.objects.filter(pk__in=ids[i : i + BATCH_SIZE]).update(
                **dict(zip(_SAVED_FIELDS, values, strict=True))
            )


def _record_domain(
    domain: Domain, st: _HostStats | None, scheme: str, now: datetime, report: BatchReport, seen: list[int]
) -> None:
    """Update one domain's health (no query when nothing worth recording changed; a domain
    whose only news is a success is appended to ``seen`` for the caller's single UPDATE)."""
    update: dict[str, Any] = {}
    if scheme != domain.signature_scheme:
        update["signature_scheme"] = scheme
    if st is not None and (st.success or st.responsive):
        was_unreachable = domain.unreachable_since is not None
        if domain.consecutive_failures or was_unreachable or domain.failing_since or domain.next_probe_at:
            update.update(consecutive_failures=0, failing_since=None, unreachable_since=None, next_probe_at=None)
        stale = domain.last_success_at is None or now - domain.last_success_at > timedelta(seconds=60)
        if st.success and stale and not update:
            seen.append(domain.pk)
        elif st.success and stale:
            update["last_success_at"] = now
        if update:
            Domain.objects.filter(pk=domain.pk).update(**update)
        if was_unreachable:  # healthy again: everything parked goes out now
            Delivery.objects.filter(
                domain=domain.host, state=DeliveryState.PENDING, next_attempt_at__gt=now + scaled(LEASE)
            ).update(next_attempt_at=now)
            report.requeue_hosts.add(domain.host)
        return
    if st is not None and st.failures:
        Domain.objects.filter(pk=domain.pk).update(
            consecutive_failures=F("consecutive_failures") + st.failures,
            failing_since=Coalesce("failing_since", Value(now, output_field=DateTimeField())),
            last_error=st.last_error,
            last_error_at=now,
            **update,
        )
        if domain.unreachable_since is None:
            marked = Domain.objects.filter(
                pk=domain.pk,
                unreachable_since__isnull=True,
                consecutive_failures__gte=UNREACHABLE_FAILURES,
                failing_since__lte=now - scaled(UNREACHABLE_AFTER),
            ).update(unreachable_since=now, next_probe_at=now + scaled(PROBE_INTERVAL))
            if marked:  # park the domain's queue until the next probe
                Delivery.objects.filter(
                    domain=domain.host, state=DeliveryState.PENDING, next_attempt_at__lt=now + scaled(PROBE_INTERVAL)
                ).update(next_attempt_at=now + scaled(PROBE_INTERVAL))
        return
    if update:
        Domain.objects.filter(pk=domain.pk).update(**update)


# ---------------------------------------------------------------- task bodies


def _drain(*, activity_ids: list[int] | None = None, host: str | None = None) -> BatchReport:
    total = BatchReport()
    deadline = time.monotonic() + TASK_TIME_BUDGET
    while True:
        rows = claim_due(activity_ids=activity_ids, host=host)
        total.add(process_batch(rows))
        if len(rows) < BATCH_SIZE:
            return total
        if time.monotonic() > deadline:  # leave the rest to a fresh task
            if host is not None:
                total.requeue_hosts.add(host)
            return total


def _siblings(activity_id: int) -> list[int]:
    """``activity_id`` and the other activities of its actor about the same object that still
    have deliveries pending (a group's ``Announce{Create}`` and plain ``Announce``), oldest first."""
    row = OutboxActivity.objects.filter(pk=activity_id).values("actor_id", "object_ap_id").first()
    if row is None or not row["object_ap_id"]:
        return [activity_id]
    others = (
        OutboxActivity.objects.filter(actor_id=row["actor_id"], object_ap_id=row["object_ap_id"])
        .filter(deliveries__state=DeliveryState.PENDING)
        .exclude(pk=activity_id)
        .values_list("pk", flat=True)
        .distinct()
    )
    return sorted({activity_id, *others})


def deliver_activity(activity_id: int) -> BatchReport:
    """Deliver every due pending delivery of one outbox activity (the ``federation.deliver.activity`` task),
    together with those of its siblings (:func:`_siblings`): one batch, every host served the
    oldest activity first. A sibling's own task then finds its rows claimed and ends at once."""
    return _drain(activity_ids=_siblings(activity_id))


def deliver_domain(host: str) -> BatchReport:
    """Deliver every due pending delivery to one host (retries; the ``federation.deliver.domain`` task)."""
    return _drain(host=host)


def due_hosts(limit: int = 1000) -> list[str]:
    """Hosts with pending deliveries due (including expired leases of dead workers): the sweeper's work list."""
    now = timezone.now()
    qs = Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now - scaled(SWEEP_GRACE))
    return list(qs.order_by().values_list("domain", flat=True).distinct()[:limit])


# ---------------------------------------------------------------- operator helpers (CLI)


def retry_domain(host: str) -> int:
    """Make every failed or pending delivery to ``host`` due now, clear its unreachable mark
    and queue it; returns how many deliveries were rescheduled. Rows leased by a running task
    (due within ``LEASE``) are left to that task."""
    now = timezone.now()
    with transaction.atomic():
        Domain.objects.filter(host=host).update(
            consecutive_failures=0, failing_since=None, unreachable_since=None, next_probe_at=None
        )
        failed = Delivery.objects.filter(domain=host, state=DeliveryState.FAILED).update(
            state=DeliveryState.PENDING, state_changed_at=now, attempts=0, next_attempt_at=now
        )
        pending = Delivery.objects.filter(
            domain=host, state=DeliveryState.PENDING, next_attempt_at__gt=now + scaled(LEASE)
        ).update(next_attempt_at=now)
        if failed or pending:
            from federation import tasks  # tasks imports this module

            transaction.on_commit(lambda: tasks.deliver_domain_task.delay(host))
    return failed + pending


def delivery_stats() -> dict[str, Any]:
    """Counts of deliveries by state, pending ones already due, and unreachable domains with their last error."""
    now = timezone.now()
    by_state = {s: 0 for s in DeliveryState.values}
    for row in Delivery.objects.order_by().values("state").annotate(n=Count("id")):
        by_state[row["state"]] = row["n"]
    due = Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now).count()
    unreachable = [
        {
            "host": d.host,
            "unreachable_since": d.unreachable_since,
            "consecutive_failures": d.consecutive_failures,
            "last_error": d.last_error,
            "last_error_at": d.last_error_at,
            "next_probe_at": d.next_probe_at,
            "pending": Delivery.objects.filter(domain=d.host, state=DeliveryState.PENDING).count(),
        }
        for d in Domain.objects.filter(unreachable_since__isnull=False).order_by("host")
    ]
    return {"by_state": by_state, "due": due, "unreachable": unreachable}

"""Celery entry points of the federation layer: thin, named, idempotent, ids as arguments.

Keep each area's tasks grouped under its own heading.
"""

from __future__ import annotations

from celery import shared_task

from federation import delivery

# ---------------------------------------------------------------- outbound delivery (federation.delivery)


def _requeue(hosts: set[str]) -> None:
    for host in sorted(hosts):
        deliver_domain_task.delay(host)


@shared_task(name="federation.deliver.activity", ignore_result=True)
def deliver_activity_task(activity_id: int) -> int:
    """Deliver all due pending deliveries of one outbox activity; returns how many were delivered."""
    report = delivery.deliver_activity(activity_id)
    _requeue(report.requeue_hosts)
    return report.delivered


@shared_task(name="federation.deliver.domain", ignore_result=True)
def deliver_domain_task(host: str) -> int:
    """Deliver all due pending deliveries to one host (retries, recovered domains); returns how many were delivered."""
    report = delivery.deliver_domain(host)
    _requeue(report.requeue_hosts)
    return report.delivered


@shared_task(name="federation.deliver.sweep", ignore_result=True)
def sweep_deliveries_task() -> int:
    """Beat, every minute: queue ``federation.deliver.domain`` for each host with due deliveries
    (retries and leases expired by a dead worker or a lost message); returns how many hosts."""
    hosts = delivery.due_hosts()
    _requeue(set(hosts))
    return len(hosts)

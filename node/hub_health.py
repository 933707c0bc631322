"""Health of a hub's children, computed on read from what the hub already stores, so it
recovers by itself: a child is unhealthy while its reports have stopped (none for more than
two report periods, scaled by ``FEDERATION_TIME_SCALE``) or our deliveries to it fail
(``federation.models.Domain`` marked unreachable or failing). ``since`` says from when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from federation.models import Delivery, DeliveryState, Domain
from node import hub
from node.models import NodeRelation, StatsDirection, StatsReport
from node.stats import report_interval

SILENT_PERIODS = 2
FAILING_AFTER = 3  # consecutive delivery failures before a child counts as unreachable


@dataclass
class Health:
    """The health of one child node."""

    domain: str
    healthy: bool = True
    reasons: list[str] = field(default_factory=list)  # "silent", "deliveries failing"
    since: datetime | None = None  # unhealthy since
    last_seen_at: datetime | None = None  # last report (or any activity) received
    failing_deliveries: int = 0  # pending deliveries that already failed at least once


def silence_limit() -> timedelta:
    """How long a child may stay silent before it is unhealthy (two scaled periods)."""
    return report_interval() * SILENT_PERIODS


def last_reports() -> dict[str, datetime]:
    """When each node's latest report arrived, by domain."""
    rows = (
        StatsReport.objects.filter(direction=StatsDirection.RECEIVED)
        .values("node_domain")
        .annotate(last=Max("received_at"))
    )
    return {row["node_domain"]: row["last"] for row in rows}


def health_of(
    relation: NodeRelation, *, now: datetime | None = None, reports: dict[str, datetime] | None = None
) -> Health:
    """The health of the child ``relation`` at ``now``: silent when no report arrived for more than
    :func:`silence_limit` (counted from its last report, or from when it joined); failing when our
    deliveries to its domain fail. Healthy again as soon as neither holds."""
    now = now or timezone.now()
    reports = last_reports() if reports is None else reports
    last_report = reports.get(relation.domain)
    seen = [t for t in (last_report, relation.last_seen_at) if t]
    health = Health(domain=relation.domain, last_seen_at=max(seen) if seen else None)
    starts: list[datetime] = []
    reference = last_report or relation.since or relation.created_at
    if reference is not None and now - reference > silence_limit():
        health.reasons.append("silent")
        starts.append(reference + silence_limit())
    domain = Domain.objects.filter(host=relation.domain).first()
    health.failing_deliveries = Delivery.objects.filter(
        domain=relation.domain, state=DeliveryState.PENDING, attempts__gt=0
    ).count()
    if domain is not None and (domain.unreachable_since or domain.consecutive_failures >= FAILING_AFTER):
        health.reasons.append("deliveries failing")
        start = domain.unreachable_since or domain.failing_since or domain.last_error_at
        if start is not None:
            starts.append(start)
    if health.reasons:
        health.healthy = False
        health.since = min(starts) if starts else now
    return health


def children_health(now: datetime | None = None) -> list[Health]:
    """Health of every accepted child node, ordered by domain."""
    reports = last_reports()
    return [health_of(rel, now=now, reports=reports) for rel in hub.children(include_relays=False)]

"""Operator page: federation health (known domains, queue depths, failing and unreachable
domains with their last error). Staff only."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from federation.models import Delivery, DeliveryState, Domain, InboxItem, InboxItemState


def federation_health() -> dict[str, object]:
    """Counts and per-domain health, shared by this page and ``node status``."""
    inbox = dict(InboxItem.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    deliveries = dict(Delivery.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    pending_by_domain = dict(
        Delivery.objects.filter(state=DeliveryState.PENDING)
        .values_list("domain")
        .annotate(n=Count("pk"))
        .values_list("domain", "n")
    )
    failing = Domain.objects.filter(Q(consecutive_failures__gt=0) | Q(unreachable_since__isnull=False)).order_by(
        "-consecutive_failures", "host"
    )
    return {
        "inbox": {state.value: inbox.get(state.value, 0) for state in InboxItemState},
        "deliveries": {state.value: deliveries.get(state.value, 0) for state in DeliveryState},
        "domains_known": Domain.objects.count(),
        "domains_blocked": Domain.objects.filter(blocked=True).count(),
        "domains_unreachable": Domain.objects.filter(unreachable_since__isnull=False).count(),
        "failing": [
            {
                "host": d.host,
                "failures": d.consecutive_failures,
                "unreachable_since": d.unreachable_since,
                "last_error": d.last_error,
                "last_error_at": d.last_error_at,
                "last_success_at": d.last_success_at,
                "pending": pending_by_domain.get(d.host, 0),
            }
            for d in failing[:200]
        ],
    }


@staff_member_required
def health_view(request: HttpRequest) -> HttpResponse:
    """HTML page for operators."""
    domains = Domain.objects.order_by("host")[:500]
    return render(request, "federation/health.html", {"health": federation_health(), "domains": domains})

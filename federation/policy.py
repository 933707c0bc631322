"""Domain policy: blocks (covering subdomains) and per-domain inbound rate limits."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from federation.hosts import is_subdomain_or_same, normalise_host
from federation.models import Delivery, DeliveryState, Domain

BLOCKS_TTL = 5.0  # seconds a process trusts its copy of the block list
_blocks: dict[str, object] = {"at": -1e9, "hosts": frozenset()}


def blocked_domains() -> frozenset[str]:
    """All blocked hosts. Kept in process memory for ``BLOCKS_TTL`` seconds (no query per
    inbox request); a block made in another process takes effect within that time."""
    now = time.monotonic()
    if now - float(_blocks["at"]) > BLOCKS_TTL:  # type: ignore[arg-type]
        _blocks["hosts"] = frozenset(Domain.objects.filter(blocked=True).values_list("host", flat=True))
        _blocks["at"] = now
    return _blocks["hosts"]  # type: ignore[return-value]


def forget_blocks() -> None:
    """Drop this process's copy of the block list (after a change, and in tests)."""
    _blocks["at"] = -1e9


def is_blocked(host: str) -> bool:
    """True when ``host`` or any parent domain of it is blocked (ports ignored)."""
    if not host:
        return False
    try:
        host = normalise_host(host)
    except ValueError:
        return True  # a host we cannot even parse is not one we talk to
    return any(is_subdomain_or_same(host, blocked) for blocked in blocked_domains())


def block_domain(host: str, reason: str = "") -> Domain:
    """Block ``host`` and its subdomains; pending deliveries to it are cancelled."""
    host = normalise_host(host)
    with transaction.atomic():
        domain, _ = Domain.objects.get_or_create(host=host)
        domain.blocked = True
        domain.block_reason = reason
        domain.save(update_fields=["blocked", "block_reason"])
        pending = Delivery.objects.filter(state=DeliveryState.PENDING)
        for d in pending.values_list("domain", flat=True).distinct():
            if is_subdomain_or_same(d, host):
                pending.filter(domain=d).update(state=DeliveryState.CANCELLED, state_changed_at=timezone.now())
    forget_blocks()
    return domain


def unblock_domain(host: str) -> bool:
    """Lift a block; True when one existed."""
    host = normalise_host(host)
    changed = Domain.objects.filter(host=host, blocked=True).update(blocked=False, block_reason="")
    forget_blocks()
    return bool(changed)


def allow_inbound(host: str) -> bool:
    """Count one inbound request from ``host``; False once it exceeds ``FEDERATION_INBOX_RATE``
    requests in the current minute in this process (the inbox answers 429).

    Counted in process memory, not in the cache: no I/O on the inbox hot path. With W web
    processes a domain gets at most W times the limit, which is what a per-domain flood guard needs.
    """
    limit = int(getattr(settings, "FEDERATION_INBOX_RATE", 3000))
    if limit <= 0:
        return True
    window = int(time.monotonic() // 60)
    if _window[0] != window:
        _window[0] = window
        _counts.clear()
    _counts[host] = current = _counts.get(host, 0) + 1
    return current <= limit


_window = [0]
_counts: dict[str, int] = {}

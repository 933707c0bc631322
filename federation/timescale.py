"""One knob to shrink every federation timer (backoff, leases, sweeps) on test networks.

``settings.FEDERATION_TIME_SCALE`` is 1.0 in production (enforced by ``node/config.py``); the
devnet's fault tests set e.g. 0.02 so a two-day retry schedule plays out in minutes.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def time_scale() -> float:
    """The current scale factor (1.0 = real time)."""
    return float(getattr(settings, "FEDERATION_TIME_SCALE", 1.0))


def scaled(delay: timedelta) -> timedelta:
    """``delay`` multiplied by the time scale."""
    return delay * time_scale()

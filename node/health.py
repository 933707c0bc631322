"""Reachability checks for the database and the Celery broker (used by /healthz and `node status`)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def check_database() -> tuple[bool, str]:
    """Run ``SELECT 1``; return (ok, detail)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "unreachable"
        return False, f"{type(exc).__name__}: {exc}"
    return True, connection.vendor


def check_broker(timeout: float = 2.0) -> tuple[bool, str]:
    """Open (and close) a connection to the broker within ``timeout`` seconds."""
    from node.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            transport = conn.transport_cls
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if str(transport) == "filesystem":
        return True, "filesystem (embedded)"
    return True, str(settings.CELERY_BROKER_URL).split("@")[-1]

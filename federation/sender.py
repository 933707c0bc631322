"""Sending a batch of signed POSTs from a per-process thread pool (used by ``federation.delivery``).

Threads here never touch the database: they get everything they need in :class:`Job` (the
body serialised once per activity, the key PEM whose parsed form is cached per process) and
return a :class:`SendResult` per job. At most ``FEDERATION_DELIVERY_PER_HOST`` requests per
host run at once, ``FEDERATION_DELIVERY_CONCURRENCY`` threads overall; a host that times out
or refuses a connection is skipped for the rest of the batch, so a dead peer costs one
``FEDERATION_DELIVERY_TIMEOUT`` and the healthy hosts are served by the other threads meanwhile.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from federation.keys import load_private_key
from federation.models import Delivery
from federation.signatures import sign_request
from federation.transport import BadScheme, BlockedAddress, TransportError, get_transport

CONTENT_TYPE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
SCHEMES = ("cavage", "rfc9421")
RESPONSE_LIMIT = 64 * 1024  # error pages can be large; a bigger answer counts as a transport error
ERROR_LIMIT = 500
MAX_RETRY_AFTER = timedelta(hours=24)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def is_success(status: int | None) -> bool:
    """2xx."""
    return status is not None and 200 <= status < 300


@dataclass
class Job:
    """One POST to make: the claimed row, the serialised body and the signer's key."""

    delivery: Delivery
    body: bytes
    key_id: str
    private_pem: str


@dataclass
class SendResult:
    """What happened: an HTTP status, or a transport error (``transport_failure``), or a refused URL
    (``permanent``); ``requests`` counts the POSTs made (2 after a signature-scheme fallback)."""

    status: int | None = None
    error: str = ""
    retry_after: float | None = None
    transport_failure: bool = False
    permanent: bool = False
    requests: int = 0


# ---------------------------------------------------------------- the per-process thread pool

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One pool per process, created lazily (after a prefork worker has forked)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(
                max_workers=int(_setting("FEDERATION_DELIVERY_CONCURRENCY", 16)), thread_name_prefix="deliver"
            )
            _pool_pid = os.getpid()
        return _pool


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date) when sane (0..24 h)."""
    if not value:
        return None
    value = value.strip()
    try:
        if value.isdigit():
            seconds = float(value)
        else:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:
                return None
            seconds = (when - (now or timezone.now())).total_seconds()
    except (TypeError, ValueError, OverflowError):
        return None
    if 0 <= seconds <= MAX_RETRY_AFTER.total_seconds():
        return seconds
    return None


# ---------------------------------------------------------------- sending (threads, no database)


def _post(job: Job, scheme: str, timeout: float) -> Any:
    key = load_private_key(job.private_pem)

    def sign(method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        return sign_request(method, url, headers, body, key_id=job.key_id, private_key=key, scheme=scheme)

    return get_transport().post(
        job.delivery.inbox_url,
        body=job.body,
        headers={"Content-Type": CONTENT_TYPE, "Accept": "application/activity+json"},
        timeout=timeout,
        sign=sign,
        max_bytes=RESPONSE_LIMIT,
    )


def _send_chunk(
    jobs: list[Job], schemes: dict[str, str], host_down: dict[str, str], timeout: float
) -> list[tuple[Job, SendResult]]:
    out: list[tuple[Job, SendResult]] = []
    for job in jobs:
        host = job.delivery.domain
        if host in host_down:
            out.append((job, SendResult(error=f"not tried: {host_down[host]}", transport_failure=True)))
            continue
        result = SendResult()
        scheme = schemes[host]
        try:
            response = _post(job, scheme, timeout)
            result.requests += 1
            if response.status in (400, 401):
                # Some servers accept only one signature flavour (e.g. RFC 9421-only stacks reject
                # draft-cavage with 401, older Mastodon rejects RFC 9421): try the other one once.
                other = SCHEMES[1] if scheme == SCHEMES[0] else SCHEMES[0]
                second = _post(job, other, timeout)
                result.requests += 1
                if is_success(second.status):
                    schemes[host] = other
                response = second
            result.status = response.status
            if not is_success(response.status):
                result.error = f"HTTP {response.status}: {bytes(response.body[:200]).decode('utf-8', 'replace')}"
                if response.status in (429, 503):
                    headers = response.headers or {}
                    result.retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
        except (BadScheme, BlockedAddress) as exc:  # the URL itself is refused: retrying cannot help
            result.permanent = True
            result.error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
        except TransportError as exc:
            result.requests += 1
            result.transport_failure = True
            result.error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
            host_down[host] = result.error
        except Exception as exc:  # a bug or a bad key must not lose the whole batch
            result.error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
        out.append((job, result))
    return out


def send_all(jobs: list[Job], schemes: dict[str, str]) -> list[tuple[Job, SendResult]]:
    """POST every job, hosts in parallel, at most ``FEDERATION_DELIVERY_PER_HOST`` lanes per host;
    ``schemes`` (host -> signature scheme) is updated when a host accepts only the other scheme."""
    per_host = max(1, int(_setting("FEDERATION_DELIVERY_PER_HOST", 4)))
    timeout = float(_setting("FEDERATION_DELIVERY_TIMEOUT", 10.0))
    by_host: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_host[job.delivery.domain].append(job)
    # As few lanes per host as keep the threads busy: a lane sends its jobs one after the other
    # over one kept-alive connection (a group's two announces to a host cost one TCP connect
    # and one thread hop, not two), and a dead host holds one thread, not ``per_host``. Many
    # hosts: one lane each; few hosts with many jobs (retries to one domain): up to ``per_host``.
    threads = int(_setting("FEDERATION_DELIVERY_CONCURRENCY", 16))
    wanted = -(-2 * threads // max(1, len(by_host)))
    lanes: list[tuple[int, list[Job]]] = []
    for host_jobs in by_host.values():
        count = min(per_host, len(host_jobs), wanted)
        lanes.extend((i, host_jobs[i::count]) for i in range(count))
    # Every host's first lane before any host's second (jobs keep the claim's order, oldest
    # activity first: a group's Announce{Create} reaches a host before its plain Announce).
    chunks = [jobs for _, jobs in sorted(lanes, key=lambda lane: lane[0])]
    host_down: dict[str, str] = {}
    if len(chunks) == 1:
        return _send_chunk(chunks[0], schemes, host_down, timeout)
    futures = [_executor().submit(_send_chunk, chunk, schemes, host_down, timeout) for chunk in chunks]
    return [pair for future in futures for pair in future.result()]

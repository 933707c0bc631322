"""Gunicorn settings for a production node: ``gunicorn -c deploy/gunicorn.conf.py node.wsgi``.

The systemd unit ``redcloud-web.service`` loads ``/etc/redcloud/redcloud.env`` first, so every
value below can be changed there without editing this file:

- ``GUNICORN_BIND``: where nginx reaches the app (default ``127.0.0.1:8000``; a unix socket is
  written ``unix:/run/redcloud-web/web.sock``).
- ``GUNICORN_WORKERS``: worker processes (default ``2 * cores + 1``, capped at ``MAX_WORKERS``).
- ``GUNICORN_TIMEOUT``: seconds before a stuck worker is killed and replaced (default 30).
- ``NODE_TRUSTED_PROXIES``: the proxies allowed to set ``X-Forwarded-*`` (default loopback).
"""

from __future__ import annotations

import gc
import os
from typing import Any

# Each sync worker is a whole Django process (about 75 MB resident, most of it shared with the
# preloaded master); past this many, a node is better served by more Celery concurrency than by
# more web workers. A county node runs 2 (GUNICORN_WORKERS in deploy/redcloud.env.example).
MAX_WORKERS = 8


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    """Read a positive integer from the environment, failing loudly on anything else."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _cores() -> int:
    """CPUs this process may run on (respects affinity masks and container cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_workers(cores: int) -> int:
    """The worker count gunicorn's documentation suggests, ``2 * cores + 1``, capped."""
    return min(2 * cores + 1, MAX_WORKERS)


wsgi_app = "node.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND", "").strip() or "127.0.0.1:8000"]
workers = _int_env("GUNICORN_WORKERS", default_workers(_cores()))
worker_class = "sync"  # slow work (deliveries, fetches, media) runs in Celery, not in requests
timeout = _int_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = 30
keepalive = 5  # nginx keeps upstream connections open (see deploy/nginx/redcloud.conf)
# Recycle workers now and then so a slow leak cannot grow without bound; jitter avoids all
# workers restarting at once. Rarely enough that a hub taking ~1,000 activities/s does not
# restart a worker every few seconds (each restart stalls its connections; bench B3b).
max_requests = 50000
max_requests_jitter = 5000
# Import Django once in the master: workers fork ready (fast recycling, shared memory pages).
# The catch: `kill -HUP` (systemctl reload) then forks new workers from the old code; a code
# upgrade needs `systemctl restart redcloud-web` (deploy/README.md, "Upgrades").
preload_app = True


def pre_fork(server: Any, worker: Any) -> None:
    """Before each worker is forked (in the master, preloaded app only): import the URL map and
    every view module, which Django otherwise does on each worker's first request, and freeze
    the garbage collector's view of the master's objects. Both keep pages shared between the
    workers instead of copied into each (bench B12: about 30 MB PSS less for 2 loaded workers).
    Leaves no database connection open for the workers to inherit."""
    if not server.cfg.preload_app:
        return
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf and the views it names
    connections.close_all()
    # Instagram's finding (Python docs, gc.freeze): collections in a forked child touch every
    # tracked object's header and so copy the parent's pages; frozen objects are never scanned.
    gc.freeze()


# Only the local nginx may tell us the client address and the scheme.
_proxies = os.environ.get("NODE_TRUSTED_PROXIES", "").strip()
forwarded_allow_ips = _proxies or "127.0.0.1,::1"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# Logs go to stdout/stderr, which systemd hands to the journal (`journalctl -u redcloud-web`).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Client address as nginx saw it, request line, status, bytes, referrer, user agent, duration.
access_log_format = '%({x-forwarded-for}i)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'

# Gunicorn's control socket defaults to ~/.gunicorn, which ProtectSystem=strict makes read-only;
# put it in the unit's RuntimeDirectory (systemd exports RUNTIME_DIRECTORY) or switch it off.
_runtime_dir = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
if _runtime_dir:
    control_socket = os.path.join(_runtime_dir, "gunicorn.ctl")
else:
    control_socket_disable = True

# Worker heartbeat files: a RAM-backed directory avoids stalls when the disk is busy. Gunicorn
# creates them with mkstemp (unique, mode 0600) and unlinks them at once.
_SHM = "/dev/shm"  # noqa: S108
if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK):
    worker_tmp_dir = _SHM

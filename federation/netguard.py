"""Beneath :class:`federation.transport.Transport`: the SSRF-guarded urllib3 connections, the
total-deadline watchdog, and the errors of outgoing requests.

- :class:`Guard` resolves a host once at connect time, refuses the whole host if any address
  fails the transport's address policy, and connects the socket only to a checked address.
- The watchdog is one daemon thread per process that shuts a socket down when its call's
  deadline passes, so a peer trickling bytes cannot hold a worker; ``start_watch`` binds a
  watch to the calling thread, and the guarded connection in use attaches itself to it.
- ``federation.transport`` is the public home of the errors (its ``__all__``); import them
  from there.
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import itertools
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TransportError(Exception):
    """An outgoing request failed; ``reason`` is a short machine-friendly text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BlockedAddress(TransportError):
    """The host resolves to an address we must not connect to (SSRF guard)."""


class TooLarge(TransportError):
    """The response body exceeds the size limit."""


class Timeout(TransportError):
    """A connect/read timeout or the total deadline of the call passed."""


class TooManyRedirects(TransportError):
    """More redirects than allowed."""


class BadScheme(TransportError):
    """The URL is not http(s), is plain http in production, or is malformed."""


class ConnectionFailed(TransportError):
    """DNS, TCP, TLS or HTTP protocol failure talking to the peer."""


# -- total-deadline watchdog ---------------------------------------------------------------


class Watch:
    """One hop's deadline; ``conn`` is bound by the connection when it is used."""

    __slots__ = ("active", "conn", "deadline", "fired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: HTTPConnection | None = None
        self.active = True
        self.fired = False


class _Watchdog:
    """A single daemon thread shutting down sockets whose call deadline passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def start(self, deadline: float) -> Watch:
        watch = Watch(deadline)
        with self._cond:
            # The thread sleeps until the earliest deadline in the heap (finished watches are
            # dropped when they reach the top), so it needs waking only when this deadline is
            # earlier than that, or when it sleeps without one. Deadlines mostly come in
            # increasing order: no wake-up (a thread switch, ~40 µs) per request.
            wake = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, next(self._seq), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="redcloud-http-watchdog", daemon=True)
                self._thread.start()
            elif wake:
                self._cond.notify()
        return watch

    def finish(self, watch: Watch) -> bool:
        """Stop watching; True if the deadline already fired on this watch."""
        with self._cond:
            watch.active = False
            return watch.fired

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and not self._heap[0][2].active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, _, watch = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                watch.fired = True
                sock = getattr(watch.conn, "sock", None)
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv in the worker thread
                    except OSError:
                        pass


_WATCHDOG = _Watchdog()
_local = threading.local()


def start_watch(deadline: float) -> Watch:
    """Watch a call of the current thread until ``deadline`` (``time.monotonic()``): the guarded
    connection it uses is shut down when the deadline passes. End with ``finish_watch`` and
    ``clear_watch``."""
    watch = _WATCHDOG.start(deadline)
    _local.watch = watch
    return watch


def finish_watch(watch: Watch) -> bool:
    """Stop watching ``watch``; True if its deadline already fired (its socket was shut down)."""
    return _WATCHDOG.finish(watch)


def clear_watch() -> None:
    """Unbind the current thread's watch; connections opened afterwards are not watched."""
    _local.watch = None


def reset_after_fork() -> None:
    """A fresh watchdog for a forked child: the parent's thread does not exist there."""
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


def _bind_current_watch(conn: HTTPConnection) -> None:
    watch = getattr(_local, "watch", None)
    if watch is not None:
        watch.conn = conn


# -- guarded connections -----------------------------------------------------------------


#: ``resolve(host, port) -> IP strings``.
Resolve = Callable[[str, int], Sequence[str]]
#: ``permits(address, port) -> allowed``.
Permits = Callable[[IPAddress, int], bool]


class Guard:
    """Resolves and checks addresses for one Transport (its ``resolve`` and ``permits``)."""

    def __init__(self, resolve: Resolve, permits: Permits) -> None:
        self._resolve = resolve
        self._permits = permits

    def open_socket(self, conn: HTTPConnection) -> socket.socket:
        """Resolve ``conn``'s host once, refuse if any address is not allowed, connect to a checked one."""
        host = conn._dns_host.strip("[]").rstrip(".")  # type: ignore[attr-defined]
        port = int(conn.port or 0)
        try:
            found = list(dict.fromkeys(self._resolve(host, port)))
        except socket.gaierror as exc:
            raise NameResolutionError(host, conn, exc) from exc
        if not found:
            raise ConnectionFailed(f"no address for {host}")
        addresses = [ipaddress.ip_address(a) for a in found]
        for address in addresses:
            if not self._permits(address, port):
                raise BlockedAddress(f"address not allowed: {host} -> {address}")
        watch = getattr(_local, "watch", None)
        last_error: OSError | None = None
        for address in addresses:
            timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
            if watch is not None:
                remaining = max(0.01, watch.deadline - time.monotonic())
                timeout = remaining if timeout is None else min(timeout, remaining)
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in conn.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(timeout)
                sock.connect((str(address), port))
                return sock
            except OSError as exc:
                sock.close()
                last_error = exc
        assert last_error is not None
        raise last_error


class _GuardedMixin:
    def __init__(self, *args: Any, guard: Guard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        conn: HTTPConnection = self  # type: ignore[assignment]
        _bind_current_watch(conn)
        try:
            return self._guard.open_socket(conn)
        except TimeoutError as exc:
            raise urllib3.exceptions.ConnectTimeoutError(conn, f"connect to {conn.host} timed out") from exc
        except (ConnectionError, OSError) as exc:
            if isinstance(exc, socket.gaierror):
                raise NameResolutionError(conn.host, conn, exc) from exc
            raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc

    def request(self, *args: Any, **kwargs: Any) -> None:
        _bind_current_watch(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _GuardedHTTPConnection(_GuardedMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedPoolManager(urllib3.PoolManager):
    """A urllib3 pool manager whose connections all open their sockets through ``guard``."""

    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw["guard"] = self._guard
        return pool


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """System trust store; honours SSL_CERT_FILE/SSL_CERT_DIR, and REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE.

    Built once per process (loading the store takes a while) and shared by all transports.
    """
    context = ssl.create_default_context()
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        bundle = os.environ.get(name)
        if bundle and os.path.isfile(bundle):
            context.load_verify_locations(cafile=bundle)
    return context

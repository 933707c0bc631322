"""The only HTTP client of Redcloud: SSRF-guarded, keep-alive, size- and time-bounded.

Every request to another server goes through :class:`Transport` (``get_transport()`` in
production code). Guarantees:

- Only ``http``/``https`` URLs; plain ``http`` only when private addresses are allowed
  (the dev/test setting ``FEDERATION_ALLOW_PRIVATE_ADDRESSES``); production is https-only.
- The host name is resolved once, here, at connect time; every resolved address must pass
  the address policy (``hosts.is_public_address`` unless private addresses are allowed), and
  the socket connects only to a checked address, so DNS rebinding cannot slip in a second
  answer. TLS still uses the real host name for SNI and certificate verification.
- Redirects (GET only, at most ``max_redirects``) are followed here, hop by hop: each hop is
  re-checked (scheme, address) and re-signed for its own URL.
- ``timeout`` is a total deadline for the whole call (connects, redirects, body streaming),
  enforced by socket timeouts and by a watchdog that shuts the socket down at the deadline,
  so a peer trickling bytes cannot hold a worker.
- Bodies are counted while streaming and refused past ``max_bytes`` (and early when
  ``Content-Length`` already says so).
- Connections are pooled per host (urllib3), safe to share between threads.

The guarded connections, the watchdog and the error classes are in ``federation.netguard``;
this module stays the public home of the API in ``__all__``.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from federation import netguard
from federation.hosts import is_public_address
from federation.netguard import (
    BadScheme,
    BlockedAddress,
    ConnectionFailed,
    Guard,
    GuardedPoolManager,
    IPAddress,
    Timeout,
    TooLarge,
    TooManyRedirects,
    TransportError,
)

__all__ = [
    "AddressPolicy",
    "BadScheme",
    "BlockedAddress",
    "ConnectionFailed",
    "Resolver",
    "Response",
    "Signer",
    "Timeout",
    "TooLarge",
    "TooManyRedirects",
    "Transport",
    "TransportError",
    "get_transport",
]

#: ``policy(address, port) -> allowed``; replaces the default public-address check (tests).
AddressPolicy = Callable[[IPAddress, int], bool]
#: ``resolver(host, port) -> IP strings``; defaults to ``socket.getaddrinfo`` (tests map names).
Resolver = Callable[[str, int], Sequence[str]]
#: ``sign(method, url, headers, body) -> headers to add`` (see ``federation.signatures``).
Signer = Callable[[str, str, dict[str, str], bytes | None], dict[str, str]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_REDIRECT_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Response:
    """A complete response: ``headers`` are case-insensitive, ``url`` is the final URL."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


def _merge(headers: dict[str, str], extra: Mapping[str, str]) -> None:
    """Set ``extra`` into ``headers``, replacing names case-insensitively."""
    for name, value in extra.items():
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value


class Transport:
    """Outgoing HTTP with the SSRF guard, deadlines, size limits and per-host keep-alive pools."""

    def __init__(
        self,
        *,
        allow_private: bool | None = None,
        address_policy: AddressPolicy | None = None,
        resolver: Resolver | None = None,
        maxsize: int = 8,
        num_pools: int = 200,
        connect_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``allow_private`` None = read ``settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES`` per call."""
        self._allow_private = allow_private
        self._address_policy = address_policy
        self._resolver = resolver
        self.connect_timeout = connect_timeout
        self._pool = GuardedPoolManager(
            Guard(self._resolve, self._permits),
            num_pools=num_pools,
            maxsize=maxsize,
            block=False,
            ssl_context=ssl_context or netguard.ssl_context(),
            retries=False,
        )

    # -- policy --------------------------------------------------------------------------
    @property
    def allow_private(self) -> bool:
        """Whether private/loopback addresses and plain http are allowed right now."""
        if self._allow_private is not None:
            return self._allow_private
        return bool(getattr(settings, "FEDERATION_ALLOW_PRIVATE_ADDRESSES", False))

    def _permits(self, address: IPAddress, port: int) -> bool:
        if self._address_policy is not None:
            return bool(self._address_policy(address, port))
        return self.allow_private or bool(is_public_address(address))

    def _resolve(self, host: str, port: int) -> Sequence[str]:
        if self._resolver is not None:
            return self._resolver(host, port)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]

    def _check_url(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise BadScheme(f"malformed URL: {url!r}")
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise BadScheme(f"scheme not allowed: {scheme or '(none)'}")
        if scheme == "http" and not self.allow_private:
            raise BadScheme("plain http is refused; https required")
        if not parts.hostname:
            raise BadScheme(f"URL without host: {url!r}")
        if parts.username is not None or parts.password is not None:
            raise BadScheme("credentials in URL refused")

    # -- public API -----------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int = 1_048_576,
        timeout: float = 10.0,
        follow_redirects: bool = True,
        max_redirects: int = 3,
        sign: Signer | None = None,
    ) -> Response:
        """GET ``url``; follows at most ``max_redirects`` redirects, re-checking and re-signing each hop.

        ``timeout`` bounds the whole call. Raises a :class:`TransportError` subclass; any HTTP
        status (including 4xx/5xx) is returned as a :class:`Response`.
        """
        deadline = time.monotonic() + timeout
        current = url
        for hop in range(max_redirects + 1):
            response = self._exchange("GET", current, headers, None, sign, deadline, max_bytes, redirect_ok=True)
            if not follow_redirects or response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            if not location:
                return response
            if hop == max_redirects:
                raise TooManyRedirects(f"more than {max_redirects} redirects from {url}")
            current = urljoin(current, location.strip())
        raise TooManyRedirects(f"more than {max_redirects} redirects from {url}")  # pragma: no cover

    def post(
        self,
        url: str,
        *,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        sign: Signer | None = None,
        max_bytes: int = 65_536,
    ) -> Response:
        """POST ``body`` to ``url`` once (redirects are returned, never followed); ``timeout`` bounds the call."""
        deadline = time.monotonic() + timeout
        return self._exchange("POST", url, headers, body, sign, deadline, max_bytes, redirect_ok=False)

    def close(self) -> None:
        """Close all pooled connections."""
        self._pool.clear()

    # -- one hop -------------------------------------------------------------------------
    def _headers_for(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        version = getattr(settings, "NODE_VERSION", "0")
        base_url = getattr(settings, "NODE_BASE_URL", "")
        headers: dict[str, str] = {"User-Agent": f"Redcloud/{version} (+{base_url})"}
        if extra:
            _merge(headers, extra)
        return headers

    def _exchange(
        self,
        method: str,
        url: str,
        extra_headers: Mapping[str, str] | None,
        body: bytes | None,
        sign: Signer | None,
        deadline: float,
        max_bytes: int,
        *,
        redirect_ok: bool,
    ) -> Response:
        self._check_url(url)
        headers = self._headers_for(extra_headers)
        if sign is not None:
            _merge(headers, sign(method, url, dict(headers), body))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(f"deadline passed before {method} {url}")
        watch = netguard.start_watch(deadline)
        response = None
        try:
            response = self._pool.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=urllib3.Timeout(connect=min(self.connect_timeout, remaining), read=remaining),
            )
            is_redirect = redirect_ok and response.status in _REDIRECTS
            limit = _REDIRECT_BODY_LIMIT if is_redirect else max_bytes
            try:
                data = _read_body(response, limit)
            except TooLarge:
                if not is_redirect:
                    raise
                data = b""  # a redirect's body is never used; just drop the connection
                response.close()
            if netguard.finish_watch(watch):
                raise Timeout(f"deadline passed during {method} {url}")
            final = Response(response.status, response.headers.copy(), data, url)
            response.release_conn()
            return final
        except TransportError as exc:
            fired = netguard.finish_watch(watch)
            _discard(response)
            if fired and not isinstance(exc, BlockedAddress | BadScheme):
                raise Timeout(f"deadline passed during {method} {url}") from exc
            raise
        except (Urllib3Error, OSError, ValueError) as exc:
            fired = netguard.finish_watch(watch)
            _discard(response)
            # NewConnectionError subclasses urllib3's ConnectTimeoutError: a refusal is no timeout.
            timed_out = isinstance(exc, Urllib3Timeout | TimeoutError) and not isinstance(exc, NewConnectionError)
            if fired or timed_out or time.monotonic() >= deadline:
                raise Timeout(f"timed out: {method} {url}") from exc
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            netguard.clear_watch()


def _discard(response: urllib3.BaseHTTPResponse | None) -> None:
    """Close a failed response's connection so it is never reused."""
    if response is not None:
        response.close()
        response.release_conn()


def _read_body(response: urllib3.BaseHTTPResponse, max_bytes: int) -> bytes:
    """Read the body in chunks, raising :class:`TooLarge` as soon as it exceeds ``max_bytes``."""
    declared = response.headers.get("Content-Length")
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise TooLarge(f"Content-Length {declared} exceeds {max_bytes}")
        except ValueError:
            pass  # urllib3 rejects a malformed length while reading
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(f"body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# -- per-process singleton -----------------------------------------------------------------

_singleton: Transport | None = None
_singleton_lock = threading.Lock()


def get_transport() -> Transport:
    """The process-wide Transport (pools are never shared across a fork)."""
    global _singleton
    if _singleton is None:
        with _singleton_lock:
            if _singleton is None:
                _singleton = Transport()
    return _singleton


def _reset_after_fork() -> None:
    global _singleton, _singleton_lock
    _singleton = None
    _singleton_lock = threading.Lock()
    netguard.reset_after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)

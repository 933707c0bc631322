"""A threaded loopback fake HTTP server for unit tests of outgoing HTTP.

Use it wherever code under test talks to "another server": remote actors, inboxes,
WebFinger, redirect chains, slow or hostile peers. It listens on 127.0.0.1 (or ::1),
speaks HTTP/1.1 with keep-alive, serves configured routes and records every request.

    from tests.federation.fakeserver import FakeServer, fake_server  # fixture

    def test_something(fake_server):
        fake_server.route("GET", "/actor", json={"id": fake_server.url("/actor")},
                          headers={"Content-Type": "application/activity+json"})
        fake_server.route("POST", "/inbox", status=202)
        ...  # code under test uses fake_server.url("/inbox")
        assert fake_server.requests[0].header("signature")

Routes are keyed by (method, path without query). A route can answer with a fixed
status/headers/body (``json=`` serialises a document), wait ``delay`` seconds first,
``trickle`` its body one byte every N seconds, or ``hang`` (never answer until the server
stops). A ``handler`` callable takes the :class:`RecordedRequest` and returns a
:class:`Reply`, for dynamic answers. Unknown routes answer 404.

Each recorded request carries the client port and a connection number, so tests can check
connection reuse (``server.connection_count``). Host names: ``static_resolver`` builds a
resolver for ``federation.transport.Transport(resolver=...)`` mapping test host names such as
``alice.test`` to this server's address, so a test can play several remote hosts.
"""

from __future__ import annotations

import ipaddress
import itertools
import json as jsonlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["FakeServer", "RecordedRequest", "Reply", "fake_server", "static_resolver"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake server received."""

    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    client_port: int
    connection_id: int  # 1 for the first accepted connection, 2 for the next...

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name`` (case-insensitive)."""
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.body)


@dataclass
class Reply:
    """How the server answers a route."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before sending anything
    trickle: float | None = None  # seconds between body bytes (slow peer)
    hang: bool = False  # never answer; the connection stays open until the server stops
    send_length: bool = True  # send Content-Length; False = close-delimited body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # clients hang up on purpose
        return


class FakeServer:
    """A loopback HTTP/1.1 server with configurable routes and a request log."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: a server-side SSLContext (with its certificate loaded) to serve https."""
        self.host = host
        self._tls = tls
        self._routes: dict[tuple[str, str], Reply | Callable[[RecordedRequest], Reply]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn_ids = itertools.count(1)
        self._connections = 0
        self.requests: list[RecordedRequest] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeServer:
        """Bind an ephemeral port and serve in a daemon thread."""
        handler = _make_handler(self)
        server_cls = _Server
        if ":" in self.host:
            server_cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        self._httpd = server_cls((self.host, 0), handler)
        if self._tls is not None:
            self._httpd.socket = self._tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging or trickling handlers return promptly."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound TCP port."""
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def netloc(self) -> str:
        """``host:port`` (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        """A URL for ``path`` on this server; ``host`` replaces the address (with a resolver)."""
        netloc = f"{host}:{self.port}" if host else self.netloc
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{netloc}{path}"

    # -- routes ------------------------------------------------------------------------
    def route(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        json: Any = None,
        content_type: str | None = None,
        delay: float = 0.0,
        trickle: float | None = None,
        hang: bool = False,
        send_length: bool = True,
        handler: Callable[[RecordedRequest], Reply] | None = None,
    ) -> None:
        """Answer ``method path`` as described (``json`` wins over ``body``); replaces an earlier route."""
        key = (method.upper(), path)
        if handler is not None:
            with self._lock:
                self._routes[key] = handler
            return
        hdrs = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json).encode()
            hdrs.setdefault("Content-Type", content_type or "application/json")
        elif content_type:
            hdrs.setdefault("Content-Type", content_type)
        if isinstance(body, str):
            body = body.encode()
        reply = Reply(status, hdrs, body, delay, trickle, hang, send_length)
        with self._lock:
            self._routes[key] = reply

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Answer GET ``path`` with a redirect to ``location``."""
        self.route("GET", path, status=status, headers={"Location": location})

    # -- observations ------------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        """How many TCP connections the server has accepted."""
        with self._lock:
            return self._connections

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests for ``path`` (and ``method`` if given)."""
        with self._lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method.upper())]

    # -- internals ---------------------------------------------------------------------
    def _new_connection(self) -> int:
        with self._lock:
            self._connections += 1
        return next(self._conn_ids)

    def _record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            found = self._routes.get((request.method, request.path))
        if found is None:
            return Reply(404, {"Content-Type": "text/plain"}, b"not found")
        if callable(found):
            return found(request)
        return found

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops; True if it is still running."""
        return not self._stop.wait(seconds)


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive by default

        def setup(self) -> None:
            super().setup()
            self.connection_id = server._new_connection()

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(
                method=self.command,
                path=path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                client_port=int(self.client_address[1]),
                connection_id=self.connection_id,
            )
            reply = server._record(request)
            if reply.hang:
                server._stop.wait(30)
                self.close_connection = True
                return
            if reply.delay and not server._sleep(reply.delay):
                self.close_connection = True
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            payload = b"" if self.command == "HEAD" else reply.body
            if reply.send_length:
                self.send_header("Content-Length", str(len(reply.body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if reply.trickle is None:
                self.wfile.write(payload)
                return
            for i in range(len(payload)):
                self.wfile.write(payload[i : i + 1])
                self.wfile.flush()
                if not server._sleep(reply.trickle):
                    self.close_connection = True
                    return

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (OSError, ssl.SSLError):
                self.close_connection = True

    return Handler


def static_resolver(mapping: Mapping[str, str]) -> Callable[[str, int], list[str]]:
    """A ``Transport(resolver=...)`` mapping host names to fixed IP strings; IP literals resolve
    to themselves, other names fail like DNS."""

    def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        try:
            return [mapping[host.lower()]]
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, f"unknown test host {host}") from None

    return resolve


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A started :class:`FakeServer` on 127.0.0.1, stopped after the test."""
    server = FakeServer().start()
    try:
        yield server
    finally:
        server.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()

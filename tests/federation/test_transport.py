"""The outgoing HTTP transport: SSRF guard, redirects, deadlines, size limits, keep-alive."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time

import pytest

from federation import transport as transport_module
from federation.transport import (
    BadScheme,
    BlockedAddress,
    ConnectionFailed,
    Timeout,
    TooLarge,
    TooManyRedirects,
    Transport,
    get_transport,
)
from tests.certs import write_self_signed
from tests.federation.fakeserver import FakeServer, static_resolver


@pytest.fixture
def server():
    """A fake remote server on 127.0.0.1."""
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def second_server():
    """Another fake remote server on 127.0.0.1 (another port)."""
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def loopback():
    """A transport that may talk to loopback over http (the dev/test setting)."""
    transport = Transport(allow_private=True)
    yield transport
    transport.close()


def test_get_reuses_one_connection_for_sequential_requests(server, loopback):
    """Sequential requests to one host travel over one kept-alive connection."""
    server.route("GET", "/doc", json={"ok": True})
    for _ in range(5):
        response = loopback.get(server.url("/doc"))
        assert response.status == 200
        assert response.body == b'{"ok": true}'
    assert len(server.requests) == 5
    assert {r.connection_id for r in server.requests} == {1}
    assert len({r.client_port for r in server.requests}) == 1
    assert server.connection_count == 1


def test_get_returns_case_insensitive_headers_and_final_url(server, loopback):
    """A response exposes headers case-insensitively and the URL it was read from."""
    server.route("GET", "/doc", body=b"hi", headers={"X-Thing": "1"}, content_type="text/plain")
    response = loopback.get(server.url("/doc"))
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["X-THING"] == "1"
    assert response.url == server.url("/doc")


def test_get_returns_error_statuses_as_responses(server, loopback):
    """HTTP error statuses are returned, not raised, so callers can classify them."""
    server.route("GET", "/gone", status=410, body=b"gone")
    response = loopback.get(server.url("/gone"))
    assert response.status == 410
    assert response.body == b"gone"


def test_get_sends_redcloud_user_agent(server, loopback, settings):
    """Every request names Redcloud, its version and the node's base URL."""
    settings.NODE_BASE_URL = "https://county.example"
    server.route("GET", "/doc", body=b"x")
    loopback.get(server.url("/doc"))
    agent = server.requests[0].header("user-agent")
    assert agent == f"Redcloud/{settings.NODE_VERSION} (+https://county.example)"


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1",
        "10.1.2.3",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    ],
)
def test_get_refuses_private_address_without_connecting(server, host, monkeypatch):
    """A private, loopback or wrapped-loopback address is refused before any connection."""
    attempts = []
    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: attempts.append(addr) or real_connect(self, addr))
    server.route("GET", "/doc", body=b"secret")
    transport = Transport(allow_private=False)
    with pytest.raises(BlockedAddress):
        transport.get(f"https://{host}:{server.port}/doc")
    assert attempts == []
    assert server.connection_count == 0
    assert server.requests == []


def test_get_refuses_name_resolving_to_loopback(server):
    """A public-looking name whose DNS answer is loopback is refused (no rebinding via names)."""
    transport = Transport(allow_private=False, resolver=static_resolver({"evil.test": "127.0.0.1"}))
    with pytest.raises(BlockedAddress):
        transport.get(f"https://evil.test:{server.port}/")
    assert server.connection_count == 0


def test_get_refuses_when_any_resolved_address_is_private(server, monkeypatch):
    """Every resolved address is checked: one private answer among public ones refuses the host."""
    attempts = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: attempts.append(addr))
    transport = Transport(allow_private=False, resolver=lambda host, port: ["93.184.216.34", "127.0.0.1"])
    with pytest.raises(BlockedAddress):
        transport.get("https://mixed.test/")
    assert attempts == []


def test_get_follows_settings_for_private_addresses(server, settings):
    """Without an explicit flag the transport reads FEDERATION_ALLOW_PRIVATE_ADDRESSES at call time."""
    server.route("GET", "/doc", body=b"x")
    transport = Transport()
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(BadScheme):
        transport.get(server.url("/doc"))
    with pytest.raises(BlockedAddress):
        transport.get(f"https://127.0.0.1:{server.port}/doc")
    assert server.connection_count == 0
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    assert transport.get(server.url("/doc")).status == 200


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/", "javascript:alert(1)", "//127.0.0.1/x"],
)
def test_get_refuses_non_http_schemes(url, loopback):
    """Only http and https URLs are fetched."""
    with pytest.raises(BadScheme):
        loopback.get(url)


def test_get_refuses_plain_http_in_production_mode(server):
    """Plain http is refused unless private addresses are allowed, and nothing is sent."""
    transport = Transport(allow_private=False, address_policy=lambda address, port: True)
    with pytest.raises(BadScheme):
        transport.get(server.url("/doc"))
    assert server.connection_count == 0


def test_get_refuses_redirect_to_refused_address(server, second_server):
    """A redirect from an allowed peer to a refused address is not followed (checked at connect)."""
    allowed_port = server.port
    transport = Transport(allow_private=True, address_policy=lambda address, port: port == allowed_port)
    server.redirect("/start", second_server.url("/internal"))
    second_server.route("GET", "/internal", body=b"secret")
    with pytest.raises(BlockedAddress):
        transport.get(server.url("/start"))
    assert len(server.requests_to("/start")) == 1
    assert second_server.connection_count == 0
    assert second_server.requests == []


def test_get_follows_three_redirects(server, loopback):
    """Up to three redirects are followed; the response carries the final URL."""
    server.redirect("/r1", "/r2", status=301)
    server.redirect("/r2", server.url("/r3"), status=307)
    server.redirect("/r3", "/final", status=308)
    server.route("GET", "/final", body=b"done")
    response = loopback.get(server.url("/r1"))
    assert response.status == 200
    assert response.body == b"done"
    assert response.url == server.url("/final")


def test_get_refuses_a_fourth_redirect(server, loopback):
    """More than three redirects raise TooManyRedirects and the target is never requested."""
    for i in range(1, 5):
        server.redirect(f"/r{i}", f"/r{i + 1}")
    server.route("GET", "/r5", body=b"done")
    with pytest.raises(TooManyRedirects):
        loopback.get(server.url("/r1"))
    assert server.requests_to("/r5") == []
    assert len(server.requests) == 4


def test_get_without_follow_returns_the_redirect(server, loopback):
    """With follow_redirects=False the 3xx response itself is returned."""
    server.redirect("/r1", "/elsewhere")
    response = loopback.get(server.url("/r1"), follow_redirects=False)
    assert response.status == 302
    assert response.headers["location"] == "/elsewhere"
    assert server.requests_to("/elsewhere") == []


def test_get_signs_every_hop_with_its_own_url(server):
    """The signer is called for each hop with that hop's URL, and its headers are sent."""
    transport = Transport(allow_private=True, resolver=static_resolver({"a.test": "127.0.0.1", "b.test": "127.0.0.1"}))
    first, second = server.url("/start", host="a.test"), server.url("/doc", host="b.test")
    server.redirect("/start", second)
    server.route("GET", "/doc", body=b"x")
    calls = []

    def sign(method, url, headers, body):
        calls.append((method, url, body, headers.get("Accept")))
        return {"Signature": f"signed {url}", "Host": url.split("/")[2]}

    response = transport.get(first, headers={"Accept": "application/activity+json"}, sign=sign)
    assert response.url == second
    assert calls == [
        ("GET", first, None, "application/activity+json"),
        ("GET", second, None, "application/activity+json"),
    ]
    assert [r.header("signature") for r in server.requests] == [f"signed {first}", f"signed {second}"]
    assert [r.header("host") for r in server.requests] == [f"a.test:{server.port}", f"b.test:{server.port}"]


def test_post_never_follows_redirects_and_signs_the_body(server, loopback):
    """POST sends the body once, passes it to the signer and returns a redirect unfollowed."""
    server.route("POST", "/inbox", status=302, headers={"Location": "/other"})
    server.route("POST", "/other", status=202)
    seen = []
    response = loopback.post(
        server.url("/inbox"), body=b'{"type":"Follow"}', sign=lambda m, u, h, b: seen.append((m, u, b)) or {}
    )
    assert response.status == 302
    assert seen == [("POST", server.url("/inbox"), b'{"type":"Follow"}')]
    assert [(r.method, r.path, r.body) for r in server.requests] == [("POST", "/inbox", b'{"type":"Follow"}')]


def test_get_enforces_total_deadline_against_trickling_body(server, loopback):
    """A peer trickling its body byte by byte is cut off at the call's total deadline."""
    server.route("GET", "/slow", body=b"x" * 200, trickle=0.05)
    start = time.monotonic()
    with pytest.raises(Timeout):
        loopback.get(server.url("/slow"), timeout=0.8)
    assert time.monotonic() - start < 1.6


def test_get_enforces_total_deadline_against_silent_peer(server, loopback):
    """A peer that accepts the request and never answers raises Timeout at the deadline."""
    server.route("GET", "/hang", hang=True)
    start = time.monotonic()
    with pytest.raises(Timeout):
        loopback.get(server.url("/hang"), timeout=0.5)
    assert time.monotonic() - start < 1.2


def test_get_deadline_covers_all_redirect_hops(server, loopback):
    """The deadline is for the whole call: slow hops add up and are cut off together."""
    server.route("GET", "/r1", status=302, headers={"Location": "/r2"}, delay=0.4)
    server.route("GET", "/r2", status=302, headers={"Location": "/r3"}, delay=0.4)
    server.route("GET", "/r3", body=b"late", delay=0.4)
    start = time.monotonic()
    with pytest.raises(Timeout):
        loopback.get(server.url("/r1"), timeout=0.9)
    assert time.monotonic() - start < 1.5


def test_transport_still_works_after_a_timeout(server, loopback):
    """A connection cut by the deadline is discarded; the next request succeeds."""
    server.route("GET", "/hang", hang=True)
    server.route("GET", "/doc", body=b"fine")
    with pytest.raises(Timeout):
        loopback.get(server.url("/hang"), timeout=0.3)
    assert loopback.get(server.url("/doc")).body == b"fine"


def test_get_refuses_declared_length_over_limit_before_reading(server, loopback):
    """A Content-Length over max_bytes is refused at once, without streaming the body."""
    server.route("GET", "/big", body=b"x" * 5000, trickle=1.0)
    start = time.monotonic()
    with pytest.raises(TooLarge):
        loopback.get(server.url("/big"), max_bytes=1000, timeout=5)
    assert time.monotonic() - start < 1.0


def test_get_refuses_undeclared_body_over_limit_while_streaming(server, loopback):
    """A body without Content-Length is counted while read and refused past max_bytes."""
    server.route("GET", "/big", body=b"x" * 50_000, send_length=False)
    with pytest.raises(TooLarge):
        loopback.get(server.url("/big"), max_bytes=10_000)


def test_get_accepts_body_exactly_at_limit(server, loopback):
    """A body of exactly max_bytes is accepted."""
    server.route("GET", "/edge", body=b"y" * 1000, send_length=False)
    assert loopback.get(server.url("/edge"), max_bytes=1000).body == b"y" * 1000


def test_post_limits_response_body(server, loopback):
    """POST responses are size-limited too."""
    server.route("POST", "/inbox", status=202, body=b"z" * 2000)
    with pytest.raises(TooLarge):
        loopback.post(server.url("/inbox"), body=b"{}", max_bytes=1000)


def test_get_reports_refused_connection_as_connection_failed(loopback):
    """A closed port is a ConnectionFailed, not a Timeout."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ConnectionFailed):
        loopback.get(f"http://127.0.0.1:{port}/")


def test_get_transport_is_a_per_process_singleton():
    """get_transport returns one shared instance, and a forked child gets its own."""
    first = get_transport()
    assert get_transport() is first
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report whether the singleton was reset
        try:
            os.write(write_end, b"fresh" if get_transport() is not first else b"shared")
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 10) == b"fresh"
    os.close(read_end)
    assert transport_module.get_transport() is first


# -- TLS: SNI and certificate checks stay on the real host name ----------------------------


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory):
    """A self-signed certificate for remote.test: (server context, client context trusting it)."""
    cert_file, key_file = write_self_signed(tmp_path_factory.mktemp("tls"), "remote.test", ca=True)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)
    client_ctx = ssl.create_default_context(cafile=str(cert_file))
    return server_ctx, client_ctx


def test_https_verifies_certificate_against_requested_host(tls_contexts):
    """https connects to the checked address but verifies the certificate for the URL's name."""
    server_ctx, client_ctx = tls_contexts
    names = {"remote.test": "127.0.0.1", "impostor.test": "127.0.0.1"}
    with FakeServer(tls=server_ctx) as fake:
        fake.route("GET", "/doc", body=b"secure")
        transport = Transport(allow_private=True, resolver=static_resolver(names), ssl_context=client_ctx)
        assert transport.get(fake.url("/doc", host="remote.test")).body == b"secure"
        with pytest.raises(ConnectionFailed):
            transport.get(fake.url("/doc", host="impostor.test"))
        assert [r.header("host") for r in fake.requests] == [f"remote.test:{fake.port}"]


def test_address_policy_receives_parsed_addresses(server):
    """The address policy seam sees each resolved address as an ip_address with the port."""
    seen = []
    transport = Transport(allow_private=True, address_policy=lambda address, port: seen.append((address, port)) or True)
    server.route("GET", "/doc", body=b"x")
    transport.get(server.url("/doc"))
    assert seen == [(ipaddress.ip_address("127.0.0.1"), server.port)]


def test_transport_is_safe_to_share_between_threads(server):
    """Concurrent requests from a thread pool all succeed over a bounded set of pooled connections."""
    from concurrent.futures import ThreadPoolExecutor

    server.route("GET", "/doc", body=b"shared", delay=0.02)
    transport = Transport(allow_private=True, maxsize=4)
    with ThreadPoolExecutor(max_workers=4) as pool:
        bodies = list(pool.map(lambda _: transport.get(server.url("/doc")).body, range(40)))
    assert bodies == [b"shared"] * 40
    assert len(server.requests) == 40
    assert server.connection_count <= 4

"""Fetching remote ActivityPub documents and WebFinger records from their origin."""

from __future__ import annotations

import copy
import json
import socket
from urllib.parse import unquote

import pytest

from federation.fetch import (
    AP_ACCEPT,
    FetchError,
    actor_url_from_jrd,
    check_actor_document,
    fetch_actor_document,
    fetch_document,
    parse_acct,
    scheme_for,
    webfinger,
)
from federation.transport import Transport
from tests.federation.fakeserver import FakeServer, static_resolver

AP = "application/activity+json"
PEM = "-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"


@pytest.fixture
def server():
    """A fake remote server on 127.0.0.1."""
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def transport():
    """A transport allowed to reach loopback, resolving a.test and b.test to it."""
    t = Transport(allow_private=True, resolver=static_resolver({"a.test": "127.0.0.1", "b.test": "127.0.0.1"}))
    yield t
    t.close()


def serve(server, path, doc, *, content_type=AP, status=200, host=None):
    """Serve ``doc`` at ``path``; ``doc['id']`` may use the placeholder ``SELF``."""
    if isinstance(doc, dict) and doc.get("id") == "SELF":
        doc = {**doc, "id": server.url(path, host=host)}
    server.route("GET", path, json=doc, content_type=content_type, status=status)
    return doc


def actor_doc(server, path="/actors/1", host=None, **changes):
    """A minimal valid actor document served at ``path``."""
    actor_id = server.url(path, host=host)
    doc = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": actor_id,
        "type": "Person",
        "preferredUsername": "alice",
        "inbox": f"{actor_id}/inbox",
        "outbox": f"{actor_id}/outbox",
        "endpoints": {"sharedInbox": server.url("/inbox", host=host)},
        "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": PEM},
    }
    doc.update(changes)
    return doc


def test_fetch_document_returns_document_whose_id_is_its_url(server, transport):
    """A document served at its own id is returned, fetched with the AP Accept header."""
    doc = serve(server, "/objects/1", {"id": "SELF", "type": "Note", "content": "hi"})
    assert fetch_document(server.url("/objects/1"), transport=transport) == doc
    assert server.requests[0].header("accept") == AP_ACCEPT


def test_fetch_document_accepts_ld_json_with_profile(server, transport):
    """application/ld+json with the ActivityStreams profile is an ActivityPub content type."""
    ctype = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    doc = serve(server, "/o", {"id": "SELF", "type": "Note"}, content_type=ctype)
    assert fetch_document(server.url("/o"), transport=transport) == doc


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json", "text/plain"])
def test_fetch_document_refuses_other_content_types(server, transport, content_type):
    """An HTML login page or plain JSON is not taken as an ActivityPub document."""
    serve(server, "/o", {"id": "SELF", "type": "Note"}, content_type=content_type)
    with pytest.raises(FetchError) as caught:
        fetch_document(server.url("/o"), transport=transport)
    assert "not an ActivityPub document" in caught.value.reason
    assert caught.value.status == 200


@pytest.mark.parametrize("status", [404, 410])
def test_fetch_document_reports_gone_status(server, transport, status):
    """404 and 410 raise FetchError carrying the status, so callers can tell "gone"."""
    serve(server, "/o", {"error": "gone"}, status=status)
    with pytest.raises(FetchError) as caught:
        fetch_document(server.url("/o"), transport=transport)
    assert caught.value.status == status
    assert caught.value.retryable is False


def test_fetch_document_marks_server_errors_retryable(server, transport):
    """A 503 is reported with its status and as retryable."""
    serve(server, "/o", {"error": "busy"}, status=503)
    with pytest.raises(FetchError) as caught:
        fetch_document(server.url("/o"), transport=transport)
    assert (caught.value.status, caught.value.retryable) == (503, True)


def test_fetch_document_marks_transport_failures_retryable(transport):
    """A refused connection becomes a retryable FetchError without a status."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(FetchError) as caught:
        fetch_document(f"http://127.0.0.1:{port}/o", transport=transport)
    assert caught.value.status is None
    assert caught.value.retryable is True


def test_fetch_document_refuses_private_address_in_production(server):
    """With private addresses refused, a loopback document is never requested."""
    with pytest.raises(FetchError) as caught:
        fetch_document(f"https://127.0.0.1:{server.port}/o", transport=Transport(allow_private=False))
    assert "BlockedAddress" in caught.value.reason
    assert server.requests == []


def test_fetch_document_refuses_invalid_json(server, transport):
    """A body that is not a JSON object is refused."""
    server.route("GET", "/o", body=b"[1, 2", content_type=AP)
    with pytest.raises(FetchError):
        fetch_document(server.url("/o"), transport=transport)


def test_fetch_document_accepts_id_of_final_url_after_redirect(server, transport):
    """After redirects the id is compared with the final URL."""
    server.redirect("/@alice", "/users/alice")
    doc = serve(server, "/users/alice", {"id": "SELF", "type": "Person"})
    assert fetch_document(server.url("/@alice"), transport=transport) == doc


def test_fetch_document_drops_fragment_of_key_ids(server, transport):
    """Fetching a key id like actor#main-key reads the actor document it points into."""
    doc = serve(server, "/users/alice", {"id": "SELF", "type": "Person"})
    assert fetch_document(server.url("/users/alice") + "#main-key", transport=transport) == doc
    assert [r.path for r in server.requests] == ["/users/alice"]


def test_fetch_document_refetches_same_host_id_once(server, transport):
    """A document claiming another id on the same host is refetched from that id and accepted."""
    # GoToSocial serves the actor (with the actor's id) at its key URL /users/alice/main-key.
    serve(server, "/users/alice/main-key", {"id": server.url("/users/alice"), "type": "Person"})
    doc = serve(server, "/users/alice", {"id": "SELF", "type": "Person", "name": "Alice"})
    assert fetch_document(server.url("/users/alice/main-key"), transport=transport) == doc
    assert [r.path for r in server.requests] == ["/users/alice/main-key", "/users/alice"]


def test_fetch_document_refuses_when_refetch_does_not_match(server, transport):
    """The refetch is terminal: a second mismatching id is refused, with no third request."""
    serve(server, "/a", {"id": server.url("/b"), "type": "Note"})
    serve(server, "/b", {"id": server.url("/c"), "type": "Note"})
    serve(server, "/c", {"id": "SELF", "type": "Note"})
    with pytest.raises(FetchError):
        fetch_document(server.url("/a"), transport=transport)
    assert [r.path for r in server.requests] == ["/a", "/b"]


def test_fetch_document_refuses_cross_host_id_without_refetch(server, transport):
    """A document on a.test claiming an id on b.test is refused and b.test is never asked."""
    serve(server, "/note", {"id": server.url("/note", host="b.test"), "type": "Note"})
    with pytest.raises(FetchError) as caught:
        fetch_document(server.url("/note", host="a.test"), transport=transport)
    assert "foreign id" in caught.value.reason
    assert [r.header("host") for r in server.requests] == [f"a.test:{server.port}"]


def test_fetch_document_signs_every_request_with_its_url(server, transport):
    """The signer is called for each hop and the refetch, with the URL being requested."""
    server.redirect("/old", "/users/alice/main-key")
    serve(server, "/users/alice/main-key", {"id": server.url("/users/alice"), "type": "Person"})
    serve(server, "/users/alice", {"id": "SELF", "type": "Person"})
    signed = []

    def signer(method, url, headers, body):
        signed.append((method, url, headers.get("Accept")))
        return {"Signature": f"keyId=instance,url={url}"}

    fetch_document(server.url("/old"), signer=signer, transport=transport)
    urls = [server.url(p) for p in ("/old", "/users/alice/main-key", "/users/alice")]
    assert signed == [("GET", u, AP_ACCEPT) for u in urls]
    assert [r.header("signature") for r in server.requests] == [f"keyId=instance,url={u}" for u in urls]


def test_fetch_document_refuses_document_without_id(server, transport):
    """A document without an id cannot be attributed to its origin and is refused."""
    serve(server, "/o", {"type": "Note"})
    with pytest.raises(FetchError):
        fetch_document(server.url("/o"), transport=transport)


# -- actors ------------------------------------------------------------------------------


def test_fetch_actor_document_accepts_valid_actor(server, transport):
    """A well-formed actor on its own host is returned unchanged."""
    doc = actor_doc(server)
    serve(server, "/actors/1", doc)
    assert fetch_actor_document(server.url("/actors/1"), transport=transport) == doc


def test_fetch_actor_document_accepts_mastodon_fixture_shape(fixture_path):
    """A real Mastodon Person passes the actor shape checks."""
    doc = json.loads(fixture_path("mastodon/person.json").read_text())
    key = check_actor_document(doc)
    assert key["owner"] == doc["id"]


def test_fetch_actor_document_refuses_inbox_on_another_host(server, transport):
    """An actor whose inbox points to another host is refused."""
    serve(server, "/actors/1", actor_doc(server, inbox="https://elsewhere.example/inbox"))
    with pytest.raises(FetchError) as caught:
        fetch_actor_document(server.url("/actors/1"), transport=transport)
    assert "inbox" in caught.value.reason


@pytest.mark.parametrize("shared", ["ftp://127.0.0.1/inbox", "https://elsewhere.example/inbox", 42])
def test_fetch_actor_document_refuses_bad_shared_inbox(server, transport, shared):
    """A sharedInbox that is not http(s) on the actor's host is refused."""
    serve(server, "/actors/1", actor_doc(server, endpoints={"sharedInbox": shared}))
    with pytest.raises(FetchError):
        fetch_actor_document(server.url("/actors/1"), transport=transport)


def test_fetch_actor_document_refuses_key_owner_mismatch(server, transport):
    """A publicKey owned by someone else is refused."""
    doc = actor_doc(server)
    doc["publicKey"] = {**doc["publicKey"], "owner": server.url("/actors/2")}
    serve(server, "/actors/1", doc)
    with pytest.raises(FetchError) as caught:
        fetch_actor_document(server.url("/actors/1"), transport=transport)
    assert "owner" in caught.value.reason


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "Note"},
        {"inbox": None},
        {"publicKey": None},
        {"publicKey": {"owner": "SELF", "publicKeyPem": PEM}},
        {"publicKey": {"id": "k", "owner": "SELF"}},
    ],
)
def test_check_actor_document_refuses_bad_shapes(server, changes):
    """Non-actor types, missing inboxes, and keys without id or PEM are refused."""
    doc = actor_doc(server)
    for name, value in changes.items():
        if isinstance(value, dict):
            value = {k: (doc["id"] if v == "SELF" else v) for k, v in value.items()}
        doc[name] = value
    with pytest.raises(FetchError):
        check_actor_document(doc)


def test_check_actor_document_picks_key_from_list(server):
    """With several keys the one matching key_id is checked, else the first."""
    doc = actor_doc(server)
    good = copy.deepcopy(doc["publicKey"])
    bad = {"id": doc["id"] + "#other", "owner": "https://evil.example/x", "publicKeyPem": PEM}
    doc["publicKey"] = [good, bad]
    assert check_actor_document(doc) == good
    with pytest.raises(FetchError):
        check_actor_document(doc, key_id=bad["id"])


# -- WebFinger ---------------------------------------------------------------------------


def test_webfinger_returns_jrd_and_actor_url(server, transport):
    """A WebFinger lookup over loopback returns the JRD whose self link is the actor."""
    jrd = {
        "subject": f"acct:alice@127.0.0.1:{server.port}",
        "links": [
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": server.url("/@alice")},
            {"rel": "self", "type": AP, "href": server.url("/actors/1")},
        ],
    }
    server.route("GET", "/.well-known/webfinger", json=jrd, content_type="application/jrd+json")
    result = webfinger(f"@alice@127.0.0.1:{server.port}", transport=transport)
    assert result == jrd
    assert actor_url_from_jrd(result) == server.url("/actors/1")
    request = server.requests[0]
    assert unquote(request.query) == f"resource=acct:alice@127.0.0.1:{server.port}"
    assert request.header("signature") is None


def test_webfinger_reports_unknown_account(server, transport):
    """A 404 from WebFinger raises FetchError with status 404."""
    with pytest.raises(FetchError) as caught:
        webfinger(f"nobody@127.0.0.1:{server.port}", transport=transport)
    assert caught.value.status == 404
    assert len(server.requests) == 1


def test_actor_url_from_jrd_reads_mastodon_record(fixture_path):
    """The self link of a real Mastodon JRD is found."""
    jrd = json.loads(fixture_path("mastodon/webfinger.json").read_text())
    expected = next(link["href"] for link in jrd["links"] if link.get("rel") == "self")
    assert actor_url_from_jrd(jrd) == expected


def test_actor_url_from_jrd_accepts_ld_json_profile_and_refuses_missing():
    """The ld+json profile type counts as ActivityPub; a JRD without a self link is refused."""
    ld = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    jrd = {"links": [{"rel": "self", "type": ld, "href": "https://a.example/u/1"}]}
    assert actor_url_from_jrd(jrd) == "https://a.example/u/1"
    with pytest.raises(FetchError):
        actor_url_from_jrd({"links": [{"rel": "self", "type": "text/html", "href": "https://a.example/@u"}]})


@pytest.mark.parametrize(
    ("host", "allow", "expected"),
    [
        ("example.org", True, "https"),
        ("localhost", True, "http"),
        ("127.0.0.1", True, "http"),
        ("[::1]", True, "http"),
        ("county.lan:8000", True, "http"),
        ("localhost", False, "https"),
        ("county.lan:8000", False, "https"),
    ],
)
def test_scheme_for_uses_http_only_for_local_hosts_when_allowed(host, allow, expected):
    """http is used only for loopback or ported hosts, and only when private addresses are allowed."""
    assert scheme_for(host, allow_private=allow) == expected


def test_parse_acct_accepts_common_forms():
    """acct:, bare and @-prefixed addresses parse to (user, normalised host)."""
    assert parse_acct("acct:alice@Example.ORG") == ("alice", "example.org")
    assert parse_acct("@bob@county.lan:8000") == ("bob", "county.lan:8000")
    with pytest.raises(FetchError):
        parse_acct("not-an-address")

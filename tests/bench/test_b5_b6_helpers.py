"""Fast checks of the B5/B5f/B6 helpers: the verifying fake inboxes, completion times, fault
layout and the B6 activity bodies."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from bench.b5_fanout import FAILING, fault_modes
from bench.b6_backlog import note_body
from bench.peers import Event, InboxFarm, check_request, completion, reached
from federation.keys import generate_key_pair, load_private_key
from federation.signatures import sign_request

KEY_ID = "http://127.0.0.1:9/groups/g#main-key"


def _signed(port: int, body: bytes, private_pem: str, key_id: str = KEY_ID) -> dict[str, str]:
    return sign_request(
        "POST",
        f"http://127.0.0.1:{port}/inbox",
        {"Content-Type": "application/activity+json"},
        body,
        key_id=key_id,
        private_key=load_private_key(private_pem),
    )


def _head(headers: dict[str, str]) -> bytes:
    return ("POST /inbox HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()


def test_check_request_accepts_valid_signature_and_refuses_tampering() -> None:
    """A correctly signed request verifies (202); a changed body, another key id or another host gives 401."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    private_pem, public_pem = generate_key_pair()
    public = load_pem_public_key(public_pem.encode())
    body = b'{"id": "http://x.test/a/1", "type": "Announce"}'
    headers = _signed(8001, body, private_pem)
    assert check_request(_head(headers), body, 8001, public, KEY_ID) == 202
    assert check_request(_head(headers), body + b" ", 8001, public, KEY_ID) == 401
    assert check_request(_head(headers), body, 8001, public, "http://other.test/k") == 401
    assert check_request(_head(headers), body, 8002, public, KEY_ID) == 401


def test_completion_needs_every_host_and_tag() -> None:
    """completion is the last first-202 over all (host, tag) pairs; reached needs one tag per host."""
    events = [Event(1.0, 1, 202, "a"), Event(2.0, 2, 202, "a"), Event(3.0, 1, 202, "b"), Event(0.5, 2, 503, "b")]
    assert completion(events, {"a", "b"}, {1, 2}) is None
    assert completion(events, {"a"}, {1, 2}) == 2.0
    assert reached(events, {"a", "b"}, {1, 2}) == 2.0
    events.append(Event(4.0, 2, 202, "b"))
    assert completion(events, {"a", "b"}, {1, 2}) == 4.0


def test_fault_modes_one_blackhole_and_ten_failing() -> None:
    """B5f's layout: one blackholed inbox and ten distinct 503 inboxes, the rest healthy."""
    ports = list(range(10000, 10145))
    modes = fault_modes(ports)
    assert list(modes.values()).count("blackhole") == 1
    assert list(modes.values()).count("503") == FAILING
    assert len(set(ports) - set(modes)) == 134


def test_note_body_is_public_top_level_and_unique() -> None:
    """B6 activities are public, not replies, and unique per serial."""
    a, b = json.loads(note_body(3, 1)), json.loads(note_body(3, 2))
    assert a["id"] != b["id"] and a["object"]["id"] != b["object"]["id"]
    assert "inReplyTo" not in a["object"]
    assert "https://www.w3.org/ns/activitystreams#Public" in a["to"]
    assert a["actor"] == a["object"]["attributedTo"]


def test_mixed_note_bodies_reply_to_the_senders_previous_note_and_mention_the_reader(monkeypatch) -> None:
    """B6's mixed run: 1 in 5 replies to the same sender's note one round (145 serials) back, 1
    in 10 mentions the reader (tag and cc); the rest stay plain."""
    from bench import b6_backlog
    from bench.servers import SENDERS

    reader = "http://127.0.0.1:9/users/reader"
    monkeypatch.setitem(b6_backlog._mix, "reader", reader)
    docs = {s: json.loads(note_body(s % SENDERS, s)) for s in range(SENDERS, SENDERS + 20)}
    replies = [s for s, d in docs.items() if "inReplyTo" in d["object"]]
    mentions = [s for s, d in docs.items() if d["object"]["tag"]]
    assert replies == [s for s in docs if s % 5 == 0] and len(replies) == 4
    assert mentions == [s for s in docs if s % 10 == 1] and len(mentions) == 2
    for s in replies:
        assert docs[s]["object"]["inReplyTo"] == json.loads(note_body(s % SENDERS, s - SENDERS))["object"]["id"]
    for s in mentions:
        assert docs[s]["object"]["tag"][0]["href"] == reader and reader in docs[s]["cc"]


def test_farm_verifies_fails_and_blackholes(tmp_path) -> None:
    """The fake-inbox process answers 202 to a valid request (logged with its tag), 401 to a
    bad signature, 503 in failing mode, and nothing in blackhole mode."""
    private_pem, public_pem = generate_key_pair()
    body = b'{"id": "http://x.test/a/2", "type": "Announce"}'
    with InboxFarm(3, public_pem, KEY_ID, tmp_path) as farm:
        p0, p1, p2 = farm.ports

        def status(port: int, payload: bytes, headers: dict[str, str]) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("POST", "/inbox", payload, headers)
                return conn.getresponse().status
            finally:
                conn.close()

        assert status(p0, body, _signed(p0, body, private_pem)) == 202
        assert status(p0, body + b" ", _signed(p0, body, private_pem)) == 401
        farm.set_modes({p1: "503", p2: "blackhole"})
        assert status(p1, body, _signed(p1, body, private_pem)) == 503
        with pytest.raises(socket.timeout):
            conn = http.client.HTTPConnection("127.0.0.1", p2, timeout=0.5)
            conn.request("POST", "/inbox", body, _signed(p2, body, private_pem))
            conn.getresponse()
        conn.close()
        logged = farm.poll()
    assert [(e.port, e.status, e.tag) for e in logged] == [
        (p0, 202, "http://x.test/a/2"),
        (p0, 401, "http://x.test/a/2"),
        (p1, 503, "http://x.test/a/2"),
    ]
    assert farm.proc.poll() is not None

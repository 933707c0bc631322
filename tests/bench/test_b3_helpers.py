"""Helpers of the server benchmarks (B3, B10, B12): generated requests, wrk output parsing,
the drop/replay checks, /proc readings and the noop baseline's isolation from production URLs."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives import serialization

from bench import loadgen
from bench.b3_inbox_accept import check
from bench.servers import ROOT, memory_kb, sender_base, tree, tree_cpu_seconds
from federation.keys import generate_key_pair, load_public_key
from federation.signatures import parse_signature, verify_signature

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:4000/inbox
  1 threads and 8 connections
BENCH duration_us 2003456
BENCH requests 1200
BENCH sent 1208
BENCH wrapped 0
BENCH errors 0 1 0 3 0
BENCH p50 6400
BENCH p90 9100
BENCH p99 15250
BENCH p99.9 30000
BENCH mean_us 6612.5
BENCH status 202 1197
BENCH status 500 3
"""


@pytest.fixture(scope="module")
def sender_key():
    private_pem, public_pem = generate_key_pair()
    loadgen.load_keys([private_pem] * 3)
    return public_pem


def _split(line: str) -> tuple[str, dict[str, str], bytes]:
    fields = line.split("\t")
    headers = dict(f.split(": ", 1) for f in fields[1:-1])
    return fields[0], headers, fields[-1].encode()


def test_request_line_is_a_valid_signed_post_for_the_sender(sender_key):
    """A generated request verifies with the sender's key, covers the digest, and its activity
    id, actor and key are all on the sender's host (the inbox's origin rule)."""
    line = loadgen.request_line("127.0.0.1:4000", 2, 77, loadgen._keys[2])
    path, headers, body = _split(line)
    signed = parse_signature("POST", path, headers, body, expected_host="127.0.0.1:4000")
    verify_signature(signed, load_public_key(sender_key))
    doc = json.loads(body)
    assert path == "/inbox"
    assert signed.key_id == f"{sender_base(2)}#main-key"
    assert doc["actor"] == sender_base(2)
    assert doc["id"].startswith("https://node-2.bench.test/") and doc["object"]["attributedTo"] == doc["actor"]
    assert 2200 <= len(body) <= 2400


def test_activity_bodies_have_unique_ids_per_serial():
    """Different serials give different activity and object ids (real inserts, not replays)."""
    a, b = json.loads(loadgen.activity_body(1, 10)), json.loads(loadgen.activity_body(1, 11))
    assert a["id"] != b["id"] and a["object"]["id"] != b["object"]["id"]


def test_write_requests_writes_one_line_per_serial(sender_key, tmp_path):
    """The request file has exactly ``count`` lines, one per serial, in order, over senders."""
    path = tmp_path / "requests.txt"
    loadgen.write_requests(path, "127.0.0.1:4000", 5, 4, processes=2)
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    ids = [json.loads(_split(line)[2])["id"] for line in lines]
    assert len(set(ids)) == 4
    assert [i.split("/")[2] for i in ids] == [f"node-{s % 3}.bench.test" for s in range(5, 9)]


def test_parse_wrk_reads_the_lua_summary():
    """Counts, percentiles (ms), statuses and the 202 rate come from the BENCH lines."""
    r = loadgen.parse_wrk(WRK_OUTPUT)
    assert (r.requests, r.sent, r.wrapped, r.accepted) == (1200, 1208, 0, 1197)
    assert r.statuses == {202: 1197, 500: 3}
    assert r.percentiles_ms["p99"] == pytest.approx(15.25)
    assert r.errors == {"connect": 0, "read": 1, "write": 0, "status": 3, "timeout": 0}
    assert r.rate == pytest.approx(1197 / 2.003456)


def test_parse_wrk_without_summary_is_an_error():
    """Output without the Lua summary (wrk failed) raises instead of reporting zeros."""
    with pytest.raises(ValueError):
        loadgen.parse_wrk("unable to connect to 127.0.0.1:4000 Connection refused\n")


def _run(accepted: int, stored: int, sent: int, wrapped: int = 0, non_202: dict | None = None) -> dict:
    side = {"accepted": accepted, "stored": stored, "sent": sent, "wrapped": wrapped, "non_202": non_202 or {}}
    side["socket_errors"] = {"connect": 0}
    return {"inbox": side, "noop": {**side, "stored": 0, "wrapped": 3, "non_202": {}}}


def test_check_accepts_in_flight_rows_and_flags_drops_replays_and_errors():
    """Rows between the 202 count and the requests sent are fine; fewer rows than 202s (a
    silent drop), a wrapped inbox request list and non-202 answers are reported."""
    assert check([_run(100, 104, 108)]) == []
    problems = check([_run(100, 90, 108, wrapped=1, non_202={"500": 2})])
    assert any("not stored" in p for p in problems)
    assert any("wrapped" in p for p in problems)
    assert any("non-202" in p for p in problems)


def test_proc_readings_for_this_process():
    """CPU and memory of this process are read from /proc and are plausible."""
    assert os.getpid() in tree(os.getpid())
    assert tree_cpu_seconds(os.getpid()) > 0
    mem = memory_kb(os.getpid())
    assert mem["rss"] > 10_000 and 0 < mem["pss"] <= mem["rss"] * 1.1


def test_noop_view_is_not_in_the_production_urls():
    """The noop baseline lives in bench.noop only; node.urls never routes to it."""
    assert "noop" not in (ROOT / "node" / "urls.py").read_text()
    from django.urls import resolve

    assert resolve("/inbox").func.__module__ == "federation.inbox"


def test_sender_public_key_matches_private(sender_key):
    """The keys loadgen signs with are the ones whose public halves the node stores."""
    public = (
        loadgen._keys[0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert public == sender_key

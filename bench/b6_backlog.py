"""B6 ``backlog-catch-up``: the hub comes back after an outage and drains what 145 senders
held for it; hub drain rate ÷ B3's accept rate (B6, ≥ 0.5) and ÷ the steady arrival rate
(B6a, ≥ 10×).

Figures (stated, not measured): the hub's assumed average arrival is 1 activity/s (145 child
nodes, about 25 public activities per child per hour); the benchmark's steady arrival is 20×
that, **20 activities/s** (also BENCHMARKS.md's assumed peak). One hour at that rate is
72,000 activities. The bench caps the backlog at ``BACKLOG`` per run (what fills and drains in
well under a minute here): the drain rate is a steady-state rate, and the time the full 72,000
would take at the measured rate (``72,000 ÷ (rate − 20)``) is recorded as ``full_backlog_s``.

Method (loopback, PostgreSQL + Redis, a fresh ``bench.servers.BenchNode``):

1. The hub: gunicorn (``deploy/gunicorn.conf.py``) and the county worker (``celery -A node
   worker -P threads --concurrency 8`` on every queue, beat as a thread: ``Procfile.dev``).
   The 145 senders are cached remote actors with real RSA-2048 keys (``bench.servers``); a
   local member follows every sender, so each activity is **stored as a post** by
   ``microblog.inbound.handle_create_note`` (activities: public, top-level ``Create{Note}``,
   the 2.3 KB Mastodon fixture rewritten per sender with a unique id and the reply fields
   removed, signed draft-cavage per sender by ``federation.signatures.sign_request``).
2. Outage: the worker is paused (SIGSTOP). The backlog is POSTed to the real shared inbox
   (verified, stored as ``InboxItem`` rows in state ``received``); the stored count is checked.
3. The hub comes back (SIGCONT): ``federation.inbox.drain`` tasks process the items while the
   steady arrival continues at 20/s. The run ends when no item is left ``received`` and all
   backlog + arrived items are ``processed`` (rejections and failures are counted and
   reported). drain rate = items processed ÷ seconds from resume to the last one.
4. Denominators: B3's inbox accept rate from this job's B3 result when B3 ran, else a short
   B3 (``bench.b3_inbox_accept.session("pg", quick=True)``) measured first; the arrival rate.

5. One more run, reported apart and not judged (``extra["mixed_run"]``, a note): the same with
   1 in 5 notes a reply to a stored note and 1 in 10 mentioning the hub's reader, shapes that
   ``microblog.inbound_bulk`` leaves to the one-by-one handler; its rate says what a backlog
   of conversations rather than top-level posts costs.

Full: ``ctx.runs`` runs × ``BACKLOG`` (1,500) + the mixed run; ``--quick``: 2 runs × 500 + 1.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.registry import Context, Measurement, benchmark

ROOT = Path(__file__).resolve().parent.parent
ARRIVAL = 20.0  # activities/s: 20 × the assumed average of 1/s
HOUR_BACKLOG = int(ARRIVAL * 3600)
BACKLOG = 1500
QUICK_BACKLOG = 500
ARRIVAL_WINDOW = 60.0  # seconds of arrivals pre-signed per run
DRAIN_DEADLINE = 300.0
AS2 = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"

_SESSIONS: dict[tuple[int, int], dict[str, Any]] = {}
_keys: list[Any] = []
_mix: dict[str, str] = {}  # "reader": the reader's id, during the mixed run only
MIX_REPLY = 5  # mixed run: one note in 5 is a reply to a stored note
MIX_MENTION = 10  # mixed run: one in 10 mentions the hub's reader


def note_body(sender: int, serial: int) -> bytes:
    """A public, top-level Create{Note} from sender ``sender`` with unique id ``serial``: the
    B3 fixture (``bench.loadgen.activity_body``) without its reply and mention fields.

    In the mixed run (``_mix["reader"]`` set) every ``MIX_REPLY``-th note instead replies to
    the same sender's previous note (``serial - SENDERS``, already stored) and every
    ``MIX_MENTION``-th mentions the hub's reader: the shapes the bulk path leaves to the
    one-by-one handler (``microblog.inbound_bulk``)."""
    from bench.loadgen import activity_body
    from bench.servers import SENDERS

    doc = json.loads(activity_body(sender, serial))
    obj = doc["object"]
    for name in ("inReplyTo", "inReplyToAtomUri", "conversation"):
        obj.pop(name, None)
    obj["tag"] = []
    followers = f"{doc['actor']}/followers"
    obj["to"], obj["cc"] = [PUBLIC], [followers]
    reader = _mix.get("reader")
    if reader and serial % MIX_REPLY == 0 and serial >= SENDERS:
        obj["inReplyTo"] = obj["id"].replace(f"{serial:018d}", f"{serial - SENDERS:018d}")
    if reader and serial % MIX_MENTION == 1:
        obj["tag"] = [{"type": "Mention", "href": reader, "name": "@reader"}]
        obj["cc"] = [followers, reader]
    doc["to"], doc["cc"] = obj["to"], obj["cc"]
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def signed_request(domain: str, sender: int, serial: int, key: Any) -> tuple[dict[str, str], bytes]:
    """Headers (signed by sender ``sender``'s ``key``, Host ``domain``) and body of one POST."""
    from bench.servers import sender_base
    from federation.signatures import sign_request

    body = note_body(sender, serial)
    headers = sign_request(
        "POST",
        f"http://{domain}/inbox",
        {"Content-Type": AS2, "User-Agent": f"http.rb/5.1.1 (Mastodon/4.3.0; +https://node-{sender}.bench.test/)"},
        body,
        key_id=f"{sender_base(sender)}#main-key",
        private_key=key,
    )
    return headers, body


def _sign_chunk(args: tuple[str, int, int]) -> list[tuple[dict[str, str], bytes]]:
    domain, start, count = args
    return [signed_request(domain, s % len(_keys), s, _keys[s % len(_keys)]) for s in range(start, start + count)]


def sign_many(domain: str, start: int, count: int, processes: int = 2) -> list[tuple[dict[str, str], bytes]]:
    """``count`` signed requests with serials ``start..``, signed in forked processes."""
    step = -(-count // processes)
    jobs = [(domain, start + i * step, min(step, count - i * step)) for i in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return [r for chunk in pool.map(_sign_chunk, [j for j in jobs if j[2] > 0]) for r in chunk]


def post(port: int, request: tuple[dict[str, str], bytes]) -> int:
    """POST one request to 127.0.0.1:``port``/inbox; returns the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/inbox", request[1], request[0])
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _setup() -> None:
    """(Inside the hub's environment.) A local member following every sender (accepted)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from federation.actors import create_local_actor
    from federation.models import Actor, Follow, FollowState

    user = get_user_model().objects.create_user(username="reader", password="bench-only-Secret-1")
    reader = create_local_actor(username="reader", user=user, name="Reader")
    Follow.objects.bulk_create(
        Follow(follower=reader, target=a, ap_id=f"{reader.ap_id}#follows-{a.pk}", state=FollowState.ACCEPTED)
        for a in Actor.objects.filter(local=False)
    )


def _counts(node: Any) -> dict[str, int]:
    rows = node.sql(
        "SELECT json_object_agg(state, n) FROM (SELECT state, count(*) n FROM federation_inboxitem GROUP BY state) s"
    )
    return {k: int(v) for k, v in (rows or {}).items()}


def measure(runs: int, backlog: int) -> dict[str, Any]:
    """Run B6 on a fresh hub; returns per-run figures."""
    from bench.servers import BenchNode, sender_keys, tree_cpu_seconds

    with BenchNode("pg") as node:
        node.prepare()
        subprocess.run(
            [sys.executable, "-m", "bench.b6_backlog", "--setup"], cwd=ROOT, env=node.env(), check=True, timeout=120
        )
        node.start_web()
        node.start_worker()
        worker = node.procs["worker"].pid
        from cryptography.hazmat.primitives import serialization

        _keys[:] = [
            serialization.load_pem_private_key(p.encode(), None, unsafe_skip_rsa_key_validation=True)
            for p in sender_keys()
        ]
        serial = 0
        results = []
        reader = node.sql("SELECT ap_id FROM federation_actor WHERE local AND username = 'reader'")
        with ThreadPoolExecutor(8) as pool:
            for run in range(runs + 1):
                mixed = run == runs  # the last run: the mixed shapes, reported apart
                _mix.clear()
                if mixed:
                    _mix["reader"] = str(reader)
                fill = sign_many(node.domain, serial, backlog)
                arrivals = sign_many(node.domain, serial + backlog, int(ARRIVAL * ARRIVAL_WINDOW))
                serial += backlog + len(arrivals)
                node.signal("worker", signal.SIGSTOP)
                before = _counts(node)
                t_fill = time.monotonic()
                statuses = list(pool.map(lambda r: post(node.port, r), fill))
                fill_s = time.monotonic() - t_fill
                stored = sum(_counts(node).values()) - sum(before.values())
                stop_arrivals = threading.Event()
                arrived = [0]

                def arrive(
                    arrivals: list[Any] = arrivals, stop: threading.Event = stop_arrivals, arrived: list[int] = arrived
                ) -> None:
                    start = time.monotonic()
                    for n, request in enumerate(arrivals):
                        if stop.wait(max(0.0, start + n / ARRIVAL - time.monotonic())):
                            return
                        post(node.port, request)
                        arrived[0] += 1

                cpu0 = tree_cpu_seconds(worker)
                t0 = time.monotonic()
                node.signal("worker", signal.SIGCONT)
                feeder = threading.Thread(target=arrive, daemon=True)
                feeder.start()
                end = t0 + DRAIN_DEADLINE
                while True:
                    now = _counts(node)
                    done = sum(now.get(s, 0) - before.get(s, 0) for s in ("processed", "rejected", "failed"))
                    if now.get("received", 0) == 0 and done >= stored:
                        t1 = time.monotonic()
                        break
                    if time.monotonic() > end:
                        stop_arrivals.set()
                        raise TimeoutError(f"backlog not drained within {DRAIN_DEADLINE} s: {now}")
                    time.sleep(0.05)
                stop_arrivals.set()
                feeder.join(10)
                cpu = tree_cpu_seconds(worker) - cpu0
                after = _counts(node)
                processed = after.get("processed", 0) - before.get("processed", 0)
                results.append(
                    {
                        "mixed": mixed,
                        "backlog": stored,
                        "fill_202": statuses.count(202),
                        "fill_rate": len(fill) / fill_s,
                        "arrived_during_drain": arrived[0],
                        "processed": processed,
                        "rejected": after.get("rejected", 0) - before.get("rejected", 0),
                        "failed": after.get("failed", 0) - before.get("failed", 0),
                        "drain_s": t1 - t0,
                        "drain_rate": done / (t1 - t0),
                        "worker_cpu_s": cpu,
                        "worker_cpu_ms_per_item": cpu / max(1, done) * 1000,
                    }
                )
                time.sleep(2.0)  # follow-up tasks (notifications) settle before the next outage
        posts = node.sql("SELECT count(*) FROM microblog_post WHERE local = false")
        mentions = node.sql("SELECT count(*) FROM microblog_mention")
        replies = node.sql("SELECT count(*) FROM microblog_post WHERE in_reply_to_id IS NOT NULL")
        node.keep_worker_log("b6")
    _mix.clear()
    plain = [r for r in results if not r["mixed"]]
    mixed_runs = [r for r in results if r["mixed"]]
    return {
        "runs": plain,
        "mixed_run": {**mixed_runs[0], "mentions_stored": mentions, "replies_linked": replies},
        "posts_stored": posts,
        "backlog_per_run": backlog,
    }


def session(runs: int, backlog: int) -> dict[str, Any]:
    """B6's measurements, once per process (B6 and B6a share them)."""
    if (runs, backlog) not in _SESSIONS:
        _SESSIONS[(runs, backlog)] = measure(runs, backlog)
    return _SESSIONS[(runs, backlog)]


def b3_rate(ctx: Context) -> tuple[float, str]:
    """B3's inbox accept rate (req/s) from this job, or from a short B3 measured now."""
    record = ctx.results.get("B3")
    if record and record.get("verdict") in ("pass", "fail"):
        return float(record["subject"]["median"]), "B3 result of this job"
    from bench import b3_inbox_accept

    summary = b3_inbox_accept._variant_summary(b3_inbox_accept.session("pg", True))
    return float(summary["inbox_rate_median"]), "short B3 (3 runs × 2 s) measured for B6"


def _plan(ctx: Context) -> tuple[int, int]:
    return (2, QUICK_BACKLOG) if ctx.quick else (ctx.runs, BACKLOG)


def _extra(data: dict[str, Any]) -> dict[str, Any]:
    rate = statistics.median(r["drain_rate"] for r in data["runs"])
    return {
        "arrival_rate": ARRIVAL,
        "hour_backlog": HOUR_BACKLOG,
        "backlog_per_run": data["backlog_per_run"],
        "full_backlog_s": HOUR_BACKLOG / max(1e-9, rate - ARRIVAL),
        "posts_stored": data["posts_stored"],
        "runs": data["runs"],
        "activities": "public top-level Create{Note} (2.3 KB) from 145 followed senders, stored as posts",
        "mixed_run": data["mixed_run"],
        "mixed_activities": f"the same, but 1 in {MIX_REPLY} a reply to a stored note and 1 in {MIX_MENTION} "
        "mentioning the hub's reader (not judged; the one-by-one path's share)",
    }


def _notes(data: dict[str, Any]) -> list[str]:
    mixed = data["mixed_run"]
    notes = [
        f"mixed run (1 in {MIX_REPLY} replies, 1 in {MIX_MENTION} mentions; not judged): "
        f"{mixed['drain_rate']:,.0f} items/s, {mixed['worker_cpu_ms_per_item']:.2f} ms worker CPU per item"
    ]
    for n, r in enumerate(data["runs"], 1):
        if r["fill_202"] != r["backlog"]:
            notes.append(f"run {n}: {r['fill_202']} answered 202 but {r['backlog']} stored")
        if r["rejected"] or r["failed"]:
            notes.append(f"run {n}: {r['rejected']} rejected, {r['failed']} failed")
    return notes


@benchmark(
    "B6",
    title="backlog-catch-up",
    metric="hub drain rate (InboxItems processed/s by the worker) ÷ B3 inbox accept rate",
    target=0.5,
    stretch=0.7,
)
def backlog_vs_b3(ctx: Context) -> Measurement:
    """B6 against B3's rate; see the module docstring."""
    b3, source = b3_rate(ctx)
    data = session(*_plan(ctx))
    rates = [r["drain_rate"] for r in data["runs"]]
    return Measurement(
        subject=rates,
        baseline=[b3] * len(rates),
        subject_unit="items/s",
        baseline_unit="req/s",
        baseline_name=source,
        notes=_notes(data),
        extra=_extra(data),
    )


@benchmark(
    "B6a",
    title="backlog-vs-arrival",
    metric="hub drain rate ÷ steady arrival rate (20/s = 20 × assumed average)",
    target=10.0,
)
def backlog_vs_arrival(ctx: Context) -> Measurement:
    """B6 against the arrival rate; see the module docstring."""
    data = session(*_plan(ctx))
    rates = [r["drain_rate"] for r in data["runs"]]
    return Measurement(
        subject=rates,
        baseline=[ARRIVAL] * len(rates),
        subject_unit="items/s",
        baseline_unit="items/s",
        baseline_name="steady arrival rate during the drain (stated figure)",
        extra={"full_backlog_s": _extra(data)["full_backlog_s"]},
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:] == ["--setup"]:
        _setup()
    else:
        print(json.dumps(measure(int(sys.argv[1]), int(sys.argv[2])), indent=2))

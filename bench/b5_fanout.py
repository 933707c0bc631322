"""B5 ``fanout-145`` and B5f (the same with faults): one group post fanned out to 145 hosts.

Setup (all loopback, bounded): a private PostgreSQL + Redis node (``bench.servers.BenchNode``)
runs the county worker (``celery -A node worker -P threads --concurrency 8`` on every queue,
beat as a thread: ``Procfile.dev``). A driver process inside the node's environment creates a
member, an open local ``Group`` (``groups.services.create_group``) and 145 remote followers of
the group, one per fake host: distinct ports on 127.0.0.1 served by ``bench.peers`` inboxes
that **verify** each signature with the group's public key (202, else 401).

Per run:

- **subject**: the member posts to the group (``groups.posts.create_group_post``). The clock
  starts at the commit of the post (an ``on_commit`` callback registered before the post's own);
  the group's announces were published in the post's own transaction
  (``groups.posts.announce_local_post``), so the worker runs ``federation.deliver.activity``.
  The 145 peers answer NodeInfo as Redcloud nodes (the province's peers are county nodes), which
  the group learned as its beat job does (``federation.software.sweep``, run once at setup), so
  each host gets the one form it processes, ``Announce{Create}``: 145 deliveries. It stops at
  the fake inboxes' timestamp of the last first ``202`` of every (host, announce) pair. Also
  recorded: ``reach_s``, and the **unknown-peers** step (not judged): the same post with the
  peers' software forgotten, so every host gets both forms (``Announce{Create}`` and the plain
  ``Announce{Note}``, 290 deliveries), as for peers whose NodeInfo was never read.
- **baseline** (B5): the same 145 hosts, one POST each of a pre-built, pre-signed announce of
  the same size, from a plain ``ThreadPoolExecutor`` (16 threads, the delivery pool size) with
  ``http.client``, to the last ``202``.
- **B5f**: inbox 0 blackholed (accepts TCP, never answers), 10 inboxes answer 503; subject =
  the same post time restricted to the 134 healthy hosts; baseline = the healthy run's time for
  the same 134 hosts (paired run by run). Between runs the driver waits until the faulty
  deliveries have been attempted (the blackhole costs one ``FEDERATION_DELIVERY_TIMEOUT``,
  10 s) and cancels their retries, so no run inherits another's traffic.

The clocks compare: the fake inboxes and the driver both use CLOCK_MONOTONIC.
Full: 5 runs (``ctx.runs``) after one warm-up; ``--quick``: 2 runs.
Standalone: ``python -m bench.b5_fanout [RUNS]`` prints the raw figures as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.registry import Context, Measurement, benchmark

ROOT = Path(__file__).resolve().parent.parent
INBOXES = 145
FAILING = 10  # inboxes answering 503 in B5f
RAW_THREADS = 16  # FEDERATION_DELIVERY_CONCURRENCY's default
RUN_DEADLINE = 60.0
DRIVER_TIMEOUT = 900.0
CONTENT_TYPE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'

_SESSIONS: dict[int, dict[str, Any]] = {}


def fault_modes(ports: list[int], failing: int = FAILING) -> dict[int, str]:
    """B5f's faults: the first port blackholed, ``failing`` others (spread out) answering 503."""
    step = max(1, (len(ports) - 1) // failing)
    modes = {ports[0]: "blackhole"}
    for i in range(failing):
        modes[ports[1 + i * step]] = "503"
    return modes


# ----------------------------------------------------------------------------- driver (in the node env)


def drive(runs: int) -> dict[str, Any]:
    """(Inside the node's environment, worker running.) Build the group and its followers,
    start the fake inboxes, measure ``runs`` paired runs; returns the raw figures."""
    import django

    django.setup()
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from bench.peers import InboxFarm, completion, reached
    from federation import software
    from federation.actors import create_local_actor
    from federation.keys import load_private_key
    from federation.models import Actor, Delivery, DeliveryState, Domain, Follow, FollowState, OutboxActivity
    from federation.signatures import sign_request
    from groups.posts import create_group_post
    from groups.services import create_group

    user = get_user_model().objects.create_user(username="poster", password="bench-only-Secret-1")
    author = create_local_actor(username="poster", user=user, name="Poster")
    group = create_group(
        "benchgroup", display_name="Bench group", kind=settings.GROUPS_KINDS[0], secretary=author, members_only=False
    )
    gactor = group.actor
    key = load_private_key(gactor.private_key_pem)
    work = Path(tempfile.mkdtemp(prefix="redcloud-b5-"))
    farm = InboxFarm(INBOXES, gactor.public_key_pem, gactor.public_key_id, work)
    pool = ThreadPoolExecutor(RAW_THREADS)
    try:
        ports = farm.ports
        followers = Actor.objects.bulk_create(
            Actor(
                ap_id=f"http://127.0.0.1:{p}/users/peer",
                username="peer",
                domain=f"127.0.0.1:{p}",
                inbox_url=f"http://127.0.0.1:{p}/users/peer/inbox",
                shared_inbox_url=f"http://127.0.0.1:{p}/inbox",
                followers_url=f"http://127.0.0.1:{p}/users/peer/followers",
                fetched_at=timezone.now(),
            )
            for p in ports
        )
        Follow.objects.bulk_create(
            Follow(follower=f, target=gactor, ap_id=f"{f.ap_id}#follow", state=FollowState.ACCEPTED) for f in followers
        )
        # The group's beat job reads its followers' NodeInfo (``federation.software.sweep``): all
        # 145 are Redcloud nodes, so each gets the one announce form it processes.
        software.sweep(limit=len(ports))
        known = Domain.objects.filter(host__in=[f"127.0.0.1:{p}" for p in ports], software="redcloud").count()
        if known != len(ports):
            raise RuntimeError(f"NodeInfo learned for {known} of {len(ports)} peers")
        faults = fault_modes(ports)
        healthy = set(ports) - set(faults)
        serial = iter(range(10**6))
        last_body: list[bytes] = []

        def wait_events(tags: set[str], hosts: set[int]) -> float:
            end = time.monotonic() + RUN_DEADLINE
            while True:
                farm.poll()
                done = completion(farm.events, tags, hosts)
                if done is not None:
                    return done
                if time.monotonic() > end:
                    seen: dict[str, int] = {}
                    for e in farm.events:
                        seen[f"{e.status} {e.tag in tags}"] = seen.get(f"{e.status} {e.tag in tags}", 0) + 1
                    states = dict(Delivery.objects.values_list("state", "last_error").distinct()[:5])
                    raise TimeoutError(f"fan-out not complete within {RUN_DEADLINE} s: {seen} {states}")
                time.sleep(0.02)

        def forget_software(forget: bool) -> None:
            """The "unknown peers" step: as if no NodeInfo had been read (both forms to everyone)."""
            hosts = [f"127.0.0.1:{p}" for p in ports]
            Domain.objects.filter(host__in=hosts).update(software="" if forget else "redcloud")

        def post_once(modes: dict[int, str], unknown: bool = False) -> dict[str, Any]:
            farm.set_modes(modes)
            forget_software(unknown)
            stamp: dict[str, float] = {}
            n = next(serial)
            with transaction.atomic():
                transaction.on_commit(lambda: stamp.setdefault("t0", time.monotonic()))
                post = create_group_post(author, gactor, text=f"Bench post {n}: " + "fan-out " * 40)
            end = time.monotonic() + RUN_DEADLINE
            tags: set[str] = set()
            while len(tags) < 2:
                tags = set(
                    OutboxActivity.objects.filter(object_ap_id=post.ap_id, actor=gactor).values_list("ap_id", flat=True)
                )
                if time.monotonic() > end:
                    raise TimeoutError("the group did not announce the post in time")
                time.sleep(0.005)
            tags = set(  # the announces some inbox gets (one form each for known peers)
                Delivery.objects.filter(activity__ap_id__in=tags).values_list("activity__ap_id", flat=True).distinct()
            )
            hosts = set(ports) - {p for p, m in modes.items() if m != "verify"}
            t_all = wait_events(tags, hosts)
            t0 = stamp["t0"]
            out = {
                "all_s": t_all - t0,
                "reach_s": (reached(farm.events, tags, hosts) or t_all) - t0,
                "healthy134_s": (completion(farm.events, tags, healthy) or t_all) - t0,
                "first_s": min(e.t for e in farm.events if e.tag in tags) - t0,
                "hosts": len(hosts),
                "announces_per_host": len(tags),
            }
            acts = list(OutboxActivity.objects.filter(object_ap_id=post.ap_id, actor=gactor))
            last_body[:] = [json.dumps(acts[0].body, separators=(",", ":")).encode()]
            # Every delivery of the post attempted (the blackhole: one delivery timeout), then
            # cancel the retries so the next run starts clean.
            rows = Delivery.objects.filter(activity__in=acts)
            while rows.filter(attempts=0).exists():
                if time.monotonic() > end + 30:
                    raise TimeoutError("deliveries of the post were not attempted in time")
                time.sleep(0.1)
            out["states"] = {s: rows.filter(state=s).count() for s in DeliveryState.values}
            out["statuses"] = sorted({r for r in rows.values_list("last_status", flat=True)}, key=str)
            rows.filter(state=DeliveryState.PENDING).update(state=DeliveryState.CANCELLED)
            return out

        def raw_once() -> float:
            farm.set_modes({})
            n = next(serial)
            doc = json.loads(last_body[0])
            doc["id"] = f"{doc['id']}-raw-{n}"
            body = json.dumps(doc, separators=(",", ":")).encode()
            prepared = []
            for p in ports:
                url = f"http://127.0.0.1:{p}/inbox"
                headers = sign_request(
                    "POST", url, {"Content-Type": CONTENT_TYPE}, body, key_id=gactor.public_key_id, private_key=key
                )
                prepared.append((p, headers))

            def send(item: tuple[int, dict[str, str]]) -> int:
                import http.client

                conn = http.client.HTTPConnection("127.0.0.1", item[0], timeout=10)
                try:
                    conn.request("POST", "/inbox", body, item[1])
                    response = conn.getresponse()
                    response.read()
                    return response.status
                finally:
                    conn.close()

            t0 = time.monotonic()
            statuses = list(pool.map(send, prepared))
            if any(s != 202 for s in statuses):
                raise RuntimeError(f"raw fan-out got non-202 answers: {sorted(set(statuses))}")
            return wait_events({doc["id"]}, set(ports)) - t0

        list(pool.map(lambda _: None, range(RAW_THREADS)))  # start the pool's threads
        warm = post_once({})
        raw_once()
        results = []
        for i in range(runs):
            record: dict[str, Any] = {}
            order = ["raw", "healthy", "faulty", "unknown"] if i % 2 == 0 else ["unknown", "faulty", "healthy", "raw"]
            for step in order:
                if step == "raw":
                    record["raw_s"] = raw_once()
                else:
                    record[step] = post_once(faults if step == "faulty" else {}, unknown=step == "unknown")
            forget_software(False)
            results.append(record)
        return {
            "inboxes": len(ports),
            "faults": {"blackhole": 1, "503": FAILING},
            "delivery_timeout_s": float(getattr(settings, "FEDERATION_DELIVERY_TIMEOUT", 10.0)),
            "warmup": warm,
            "runs": results,
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        farm.stop()


# ----------------------------------------------------------------------------- harness side


def session(runs: int) -> dict[str, Any]:
    """Run the driver once per process (B5 and B5f share it) on a fresh node; raw figures."""
    if runs in _SESSIONS:
        return _SESSIONS[runs]
    from bench.servers import BenchNode

    with BenchNode("pg") as node:
        node.prepare(senders=1)
        node.start_worker()
        out = subprocess.run(
            [sys.executable, "-m", "bench.b5_fanout", "--drive", str(runs)],
            cwd=ROOT,
            env=node.env(),
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT,
        )
        node.keep_worker_log("b5")
        if out.returncode:
            raise RuntimeError(f"B5 driver failed: {out.stderr[-2000:]}")
        _SESSIONS[runs] = json.loads(out.stdout.strip().splitlines()[-1])
    return _SESSIONS[runs]


def _runs(ctx: Context) -> int:
    return 2 if ctx.quick else ctx.runs


def _check(runs: list[dict[str, Any]]) -> list[str]:
    notes = []
    for n, r in enumerate(runs, 1):
        if r["healthy"]["states"].get("delivered") != INBOXES:
            notes.append(f"run {n}: healthy fan-out states {r['healthy']['states']}")
        if r["unknown"]["states"].get("delivered") != 2 * INBOXES:
            notes.append(f"run {n}: unknown-peers fan-out states {r['unknown']['states']}")
    unknown = statistics.median(r["unknown"]["all_s"] / r["raw_s"] for r in runs)
    notes.append(
        f"peers of unknown software (both announce forms, {2 * INBOXES} deliveries; not judged): "
        f"median ratio {unknown:.2f}"
    )
    return notes


@benchmark(
    "B5",
    title="fanout-145",
    metric="commit of a group post → last 202 of its deliveries to 145 Redcloud hosts ÷ raw thread-pool fan-out",
    target=3.0,
    stretch=2.0,
    higher_is_better=False,
)
def fanout(ctx: Context) -> Measurement:
    """B5; see the module docstring."""
    raw = session(_runs(ctx))
    runs = raw["runs"]
    reach = [r["healthy"]["reach_s"] * 1000 for r in runs]
    return Measurement(
        subject=[r["healthy"]["all_s"] * 1000 for r in runs],
        baseline=[r["raw_s"] * 1000 for r in runs],
        subject_unit="ms",
        baseline_unit="ms",
        baseline_name=f"ThreadPoolExecutor({RAW_THREADS}) + http.client, 145 pre-signed POSTs, same job",
        notes=_check(runs) + (["quick: 2 runs"] if ctx.quick else []),
        extra={
            "reach_ms": reach,
            "reach_ratio": [a / r["raw_s"] / 1000 for a, r in zip(reach, runs, strict=True)],
            "deliveries_per_post": INBOXES,
            "unknown_peers_ms": [r["unknown"]["all_s"] * 1000 for r in runs],
            "unknown_peers_ratio": [r["unknown"]["all_s"] / r["raw_s"] for r in runs],
            "worker": "celery -P threads --concurrency 8, PostgreSQL + Redis",
            "warmup": raw["warmup"],
        },
    )


@benchmark(
    "B5f",
    title="fanout-faults",
    metric="healthy 134 hosts' time with 1 blackholed + 10 failing (503) ÷ same hosts' time without faults",
    target=1.2,
    stretch=1.1,
    higher_is_better=False,
)
def fanout_faults(ctx: Context) -> Measurement:
    """B5f; see the module docstring."""
    raw = session(_runs(ctx))
    runs = raw["runs"]
    return Measurement(
        subject=[r["faulty"]["all_s"] * 1000 for r in runs],
        baseline=[r["healthy"]["healthy134_s"] * 1000 for r in runs],
        subject_unit="ms",
        baseline_unit="ms",
        baseline_name="B5 healthy run, same 134 hosts, same job",
        extra={
            "faulty_states": [r["faulty"]["states"] for r in runs],
            "delivery_timeout_s": raw["delivery_timeout_s"],
        },
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--drive":
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "node.settings")
        print(json.dumps(drive(int(sys.argv[2]))), flush=True)
    else:
        print(json.dumps(session(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=2))

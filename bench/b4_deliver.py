"""B4 ``deliver-throughput``: signed deliveries per second per worker CPU core ÷ raw RSA-2048 sign/s.

Method (everything on loopback, bounded in count and time):

1. A **fake-inbox process** (``--serve``, asyncio, one listener per inbox) opens 145 ports on
   127.0.0.1 and answers every POST ``202`` at once, keep-alive. It is a separate process, so
   its CPU is not counted.
2. A **driver process** (``--drive``) gets a private ``NODE_VAR_DIR`` (SQLite database and the
   file-system broker, as in the embedded default; set ``DATABASE_URL`` to bench PostgreSQL),
   creates the tables, a local actor with a key, and starts a **real Celery worker**
   (``celery -A node worker -P solo``, the deployed configuration of one worker process) on the
   ``deliver`` and ``default`` queues.
3. Per run: K activities × 145 inboxes are stored as ``OutboxActivity`` + ``Delivery`` rows
   (what ``publish`` stores), K ``federation.deliver.activity`` tasks are queued, and the run
   ends when every row is delivered. The worker's CPU time (utime + stime of its process from
   ``/proc``, all threads) minus its idle polling CPU over the same wall time is the cost.
   metric = delivered rows ÷ worker CPU seconds.
4. The denominator, raw RSA-2048 PKCS#1 v1.5 SHA-256 signatures per CPU second with a parsed key,
   is measured in the same driver run.

5 runs (after one warm-up run that opens the keep-alive connections), median/min/max of the
ratio; target ≥ 0.25, stretch ≥ 0.40. The same runs give B9 (see ``bench/b9_task_overhead.py``):
a burst of no-op tasks through the same worker gives the per-task overhead.

``run() -> dict`` runs the driver in a subprocess (clean environment, no Django in the caller).
Standalone: ``.venv/bin/python -m bench.b4_deliver``; in the suite: ``python -m bench --only B4,B9``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.peers import read_request
from bench.registry import Context, Measurement, benchmark

ROOT = Path(__file__).resolve().parent.parent
INBOXES = 145
ACTIVITIES_PER_RUN = 8
RUNS = 5
NOOP_TASKS = 400
DRIVER_TIMEOUT = 600.0
TARGET, STRETCH = 0.25, 0.40


# ----------------------------------------------------------------------------- fake inboxes


async def _serve(count: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await read_request(reader)
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(count)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


def start_inboxes(count: int = INBOXES) -> tuple[subprocess.Popen[str], list[int]]:
    """Start the fake-inbox process; returns it and its ports."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.b4_deliver", "--serve", str(count)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ports = json.loads(proc.stdout.readline())
    return proc, ports


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a process this bench started (by its own handle)."""
    if proc.poll() is None:
        if proc.stdin:
            proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ----------------------------------------------------------------------------- driver side


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SIGN_KEY: Any = None


def raw_sign_per_cpu_second(seconds: float = 0.5) -> float:
    """RSA-2048 PKCS#1 v1.5 SHA-256 signatures per CPU second with an already parsed key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    global _SIGN_KEY
    if _SIGN_KEY is None:
        _SIGN_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = b"(request-target): post /inbox\nhost: example.org\ndate: Thu, 01 Jan 2026 00:00:00 GMT\n" * 2
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for _ in range(50):
            _SIGN_KEY.sign(data, padding.PKCS1v15(), hashes.SHA256())
        n += 50
    return n / (time.process_time() - start)


def _setup_django(var_dir: Path) -> None:
    os.environ.update(
        NODE_VAR_DIR=str(var_dir),
        FEDERATION_ALLOW_PRIVATE_ADDRESSES="1",
        NODE_DOMAIN="bench.test",
        DJANGO_SETTINGS_MODULE="node.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    # Tables straight from the models (what the test suite does): the bench does not depend on
    # migrations being regenerated yet.
    settings.MIGRATION_MODULES = {label: None for label in ("node", "federation", "microblog", "groups", "learning")}
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def _start_worker(var_dir: Path) -> subprocess.Popen[bytes]:
    log = open(var_dir / "worker.log", "wb")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "node", "worker", "-P", "solo", "-Q", "deliver,default"),
            *("--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "WARNING"),
            *("--include", "bench.b9_task_overhead"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc


def _broker_idle(var_dir: Path) -> bool:
    return not any((var_dir / "broker" / "out").glob("*.msg"))


def _wait(predicate: Any, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("bench step did not finish in time")
        time.sleep(0.02)


def drive(runs: int = RUNS, activities: int = ACTIVITIES_PER_RUN, noops: int = NOOP_TASKS) -> dict[str, Any]:
    """Run B4 and B9 measurements in this (fresh) process; returns raw figures per run."""
    var_dir = Path(tempfile.mkdtemp(prefix="redcloud-b4-"))
    _setup_django(var_dir)
    from bench.b9_task_overhead import mark, noop
    from federation.actors import create_local_actor
    from federation.models import Delivery, DeliveryState, OutboxActivity
    from federation.tasks import deliver_activity_task

    inbox_proc, ports = start_inboxes()
    worker = _start_worker(var_dir)
    try:
        actor = create_local_actor(username="bencher")
        marker = var_dir / "mark"
        mark.delay(str(marker))
        _wait(marker.exists, 60)

        def idle_rate() -> float:
            c0, t0 = cpu_seconds(worker.pid), time.monotonic()
            time.sleep(1.0)
            return (cpu_seconds(worker.pid) - c0) / (time.monotonic() - t0)

        def measured(fn: Any, done: Any) -> float:
            idle = idle_rate()
            c0, t0 = cpu_seconds(worker.pid), time.monotonic()
            fn()
            _wait(done, 120)
            return max(1e-6, cpu_seconds(worker.pid) - c0 - idle * (time.monotonic() - t0))

        serial = iter(range(10**9))

        def deliveries_once() -> tuple[int, float]:
            rows = []
            acts = [
                OutboxActivity.objects.create(
                    ap_id=f"http://bench.test/activities/{next(serial)}",
                    actor=actor,
                    type="Create",
                    body=_activity(actor.ap_id, n),
                )
                for n in range(activities)
            ]
            for act in acts:
                rows += [
                    Delivery(activity=act, inbox_url=f"http://127.0.0.1:{p}/inbox", domain=f"127.0.0.1:{p}")
                    for p in ports
                ]
            Delivery.objects.bulk_create(rows)
            ids = [a.pk for a in acts]
            expected = len(rows)

            def done() -> bool:
                return Delivery.objects.filter(activity_id__in=ids, state=DeliveryState.DELIVERED).count() == expected

            cpu = measured(lambda: [deliver_activity_task.delay(pk) for pk in ids], done)
            return expected, cpu

        def noops_once() -> float:
            marker.unlink(missing_ok=True)

            def send() -> None:
                for _ in range(noops):
                    noop.delay()
                mark.delay(str(marker))

            return measured(send, lambda: marker.exists() and _broker_idle(var_dir)) / (noops + 1)

        deliveries_once()  # warm-up: connections, key cache, imports
        noops_once()
        results = []
        for _ in range(runs):
            n, cpu = deliveries_once()
            noop_cpu = noops_once()
            sign_rate = raw_sign_per_cpu_second()
            results.append(
                {"deliveries": n, "worker_cpu_s": cpu, "noop_task_cpu_s": noop_cpu, "raw_sign_per_cpu_s": sign_rate}
            )
        return {
            "inboxes": len(ports),
            "activities_per_run": activities,
            "runs": results,
        }
    finally:
        stop(worker)
        stop(inbox_proc)
        shutil.rmtree(var_dir, ignore_errors=True)


def _activity(actor: str, n: int) -> dict[str, Any]:
    """A Create{Note} of about 2 KB, like a real post."""
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": f"{actor}/activities/bench-{n}",
        "type": "Create",
        "actor": actor,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{actor}/followers"],
        "object": {
            "id": f"{actor}/objects/bench-{n}",
            "type": "Note",
            "attributedTo": actor,
            "content": "<p>" + "Redcloud benchmark note. " * 70 + "</p>",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
        },
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


_cache: dict[tuple[int, int], dict[str, Any]] = {}


def driver_output(runs: int = RUNS, activities: int = ACTIVITIES_PER_RUN) -> dict[str, Any]:
    """Run the driver in a clean subprocess and return its raw figures (cached per process:
    B4 and B9 share one driver run)."""
    if (runs, activities) in _cache:
        return _cache[(runs, activities)]
    out = subprocess.run(
        [sys.executable, "-m", "bench.b4_deliver", "--drive", str(runs), str(activities)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("NODE_VAR_DIR", "DJANGO_SETTINGS_MODULE")},
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT,
        check=True,
    )
    _cache[(runs, activities)] = json.loads(out.stdout.strip().splitlines()[-1])
    return _cache[(runs, activities)]


def summarise_b4(raw: dict[str, Any]) -> dict[str, Any]:
    """The B4 result from the driver's raw figures."""
    rates = [r["deliveries"] / r["worker_cpu_s"] for r in raw["runs"]]
    ratios = [rate / r["raw_sign_per_cpu_s"] for rate, r in zip(rates, raw["runs"], strict=True)]
    median = statistics.median(ratios)
    return {
        "id": "B4",
        "name": "deliver-throughput",
        "metric": "signed deliveries per worker CPU second ÷ raw RSA-2048 signs per CPU second",
        "ratio": _summary(ratios),
        "deliveries_per_cpu_s": _summary(rates),
        "raw_sign_per_cpu_s": _summary([r["raw_sign_per_cpu_s"] for r in raw["runs"]]),
        "target": TARGET,
        "stretch": STRETCH,
        "passed": median >= TARGET,
    }


def driver_for(ctx: Context) -> dict[str, Any]:
    """The shared B4/B9 driver run for the harness settings (quick: fewer activities)."""
    return driver_output(runs=ctx.runs, activities=4 if ctx.quick else ACTIVITIES_PER_RUN)


@benchmark(
    "B4",
    title="deliver-throughput",
    metric="signed deliveries per worker CPU second ÷ raw RSA sign/s",
    target=TARGET,
    stretch=STRETCH,
)
def deliver_throughput(ctx: Context) -> Measurement:
    """B4 through a real Celery worker; see the module docstring."""
    raw = driver_for(ctx)
    return Measurement(
        subject=[r["deliveries"] / r["worker_cpu_s"] for r in raw["runs"]],
        baseline=[r["raw_sign_per_cpu_s"] for r in raw["runs"]],
        subject_unit="deliveries/CPU-s",
        baseline_unit="signs/CPU-s",
        baseline_name="raw RSA-2048 PKCS#1 v1.5 sign, key parsed once, same driver run",
        extra={"inboxes": raw["inboxes"], "activities_per_run": raw["activities_per_run"], "worker": "celery -P solo"},
    )


def run() -> dict[str, Any]:
    """B4: fan K activities out to 145 fake inboxes through a real worker; see the module docstring."""
    return summarise_b4(driver_output())


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        asyncio.run(_serve(int(sys.argv[2])))
    elif len(sys.argv) > 2 and sys.argv[1] == "--drive":
        print(json.dumps(drive(runs=int(sys.argv[2]), activities=int(sys.argv[3]))), flush=True)
    else:
        print(json.dumps(run(), indent=2))

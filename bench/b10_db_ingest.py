"""B10 ``db-ingest``: rows/s persisting inbound activities with dedupe on the activity id, ÷ a
raw ``executemany`` 1,000-row batch insert into the same table, same database, same run.

What is measured (in a fresh node database, migrated with ``manage.py migrate``):

- **Subject** — the inbox's real storage path, ``federation.inbox._store`` called directly for
  each of N unique 2.3 KB Create{Note} activities: one ``transaction.atomic()`` per activity
  with an ``InboxItem`` ORM insert (unique ``activity_id``; an IntegrityError means a replay,
  acknowledged and dropped), and on commit the drain scheduling (a cache ``add`` per activity,
  a Celery publish at most every 2 s; no worker consumes it). Rows/s = N ÷ wall time.
- **Baseline** — ``cursor.executemany`` of 1,000-row batches (one transaction per batch) of the
  same columns into the same ``federation_inboxitem`` table, through the DB driver (psycopg 3
  pipelines it; sqlite3 loops in C). Rows/s = rows ÷ wall time.
- Runs alternate which side goes first; the ratio is per run. PostgreSQL + Redis is the primary
  figure; the embedded default (SQLite WAL, file cache, file broker) is under ``extra["sqlite"]``.
- Also recorded (extra, same run): the bare ORM insert without the on-commit hook, the same with
  ``SET LOCAL synchronous_commit = off`` (PostgreSQL), the replay path (re-storing known ids),
  and a batched ``bulk_create(ignore_conflicts=True)`` of 1,000 rows — the shape a batched
  ingest (e.g. a worker persisting a Redis-buffered burst) would have.

Standalone: ``python -m bench.b10_db_ingest`` prints the figures as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.registry import Context, Measurement, benchmark
from bench.servers import ROOT, BenchNode

BATCH = 1000
COLUMNS = (
    "activity_id, activity_type, actor_id, domain, recipient_id, body, state, state_changed_at, "
    "attempts, next_attempt_at, error, received_at"
)


def _activities(start: int, count: int) -> list[tuple[dict[str, Any], bytes, str, str]]:
    from bench.loadgen import activity_body

    out = []
    for serial in range(start, start + count):
        sender = serial % 145
        body = activity_body(sender, serial)
        doc = json.loads(body)
        out.append((doc, body, doc["actor"], f"node-{sender}.bench.test"))
    return out


def drive(runs: int, rows: int) -> dict[str, Any]:
    """(Inside the node's environment.) Measure subject, baseline and the extra shapes."""
    import django

    django.setup()
    from django.db import IntegrityError, connection, transaction
    from django.utils import timezone

    from federation.inbox import _store
    from federation.models import InboxItem

    serial = 0

    def batch(count: int) -> list[tuple[dict[str, Any], bytes, str, str]]:
        nonlocal serial
        items = _activities(serial, count)
        serial += count
        return items

    def timed(fn: Any, items: list[Any]) -> float:
        start = time.perf_counter()
        fn(items)
        return len(items) / (time.perf_counter() - start)

    def subject(items: list[Any]) -> None:
        for doc, body, actor, domain in items:
            _store(doc, body, actor, domain, None)

    def orm_only(items: list[Any]) -> None:
        for doc, body, actor, domain in items:
            try:
                with transaction.atomic():
                    InboxItem.objects.create(
                        activity_id=doc["id"], activity_type=doc["type"], actor_id=actor, domain=domain,
                        body=body.decode(),
                    )  # fmt: skip
            except IntegrityError:
                pass

    def orm_async_commit(items: list[Any]) -> None:
        # PostgreSQL only: the same insert with SET LOCAL synchronous_commit = off (no wait for
        # the WAL flush; a PostgreSQL/OS crash may lose the last fraction of a second).
        for doc, body, actor, domain in items:
            try:
                with transaction.atomic():
                    with connection.cursor() as cur:
                        cur.execute("SET LOCAL synchronous_commit TO OFF")
                    InboxItem.objects.create(
                        activity_id=doc["id"], activity_type=doc["type"], actor_id=actor, domain=domain,
                        body=body.decode(),
                    )  # fmt: skip
            except IntegrityError:
                pass

    def raw_rows(items: list[Any]) -> list[tuple[Any, ...]]:
        now = timezone.now()
        return [
            (d["id"], d["type"], a, dom, None, b.decode(), "received", now, 0, None, "", now) for d, b, a, dom in items
        ]

    def executemany(items: list[Any]) -> None:
        rows_ = raw_rows(items)
        for i in range(0, len(rows_), BATCH):
            with transaction.atomic(), connection.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO federation_inboxitem ({COLUMNS}) VALUES ({', '.join(['%s'] * 12)})",  # noqa: S608
                    rows_[i : i + BATCH],
                )

    def bulk(items: list[Any]) -> None:
        objs = [
            InboxItem(activity_id=d["id"], activity_type=d["type"], actor_id=a, domain=dom, body=b.decode())
            for d, b, a, dom in items
        ]
        InboxItem.objects.bulk_create(objs, batch_size=BATCH, ignore_conflicts=True)

    timed(subject, batch(100))  # warm-up: connection, caches, prepared code paths
    timed(executemany, batch(BATCH))
    results = []
    for i in range(runs):
        pair = [("subject", subject, rows), ("baseline", executemany, 3 * BATCH)]
        rec: dict[str, float] = {}
        for name, fn, n in pair if i % 2 == 0 else pair[::-1]:
            rec[name] = timed(fn, batch(n))
        results.append(rec)
    replays = _activities(0, min(rows, 1000))  # ids stored by the warm-up and the first run
    extra = {
        "orm_insert_without_hook_rows_s": timed(orm_only, batch(rows)),
        "replay_rows_s": timed(subject, replays),
        "bulk_create_1000_rows_s": statistics.median(timed(bulk, batch(BATCH)) for _ in range(3)),
    }
    if connection.vendor == "postgresql":
        extra["orm_insert_async_commit_rows_s"] = timed(orm_async_commit, batch(rows))
    return {"runs": results, "rows_per_subject_run": rows, "extra": extra, "vendor": connection.vendor}


def run_variant(variant: str, runs: int, rows: int) -> dict[str, Any]:
    """Fresh node database of ``variant``, migrated; the driver in a clean subprocess."""
    with BenchNode(variant) as node:
        node.prepare(senders=0)
        out = subprocess.run(
            [sys.executable, "-m", "bench.b10_db_ingest", "--drive", str(runs), str(rows)],
            cwd=ROOT,
            env=node.env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        data = json.loads(out.stdout.strip().splitlines()[-1])
        data["stored_total"] = node.sql("SELECT count(*) FROM federation_inboxitem")
    return data


def _ratio(data: dict[str, Any]) -> float:
    return statistics.median(r["subject"] / r["baseline"] for r in data["runs"])


@benchmark(
    "B10",
    title="db-ingest",
    metric="inbox store rows/s ÷ executemany 1,000-row batch rows/s",
    target=0.50,
    stretch=0.70,
)
def db_ingest(ctx: Context) -> Measurement:
    runs, rows = (3, 300) if ctx.quick else (5, 2000)
    pg = run_variant("pg", runs, rows)
    sqlite = run_variant("sqlite", runs, rows)
    sqlite["ratio_median"] = _ratio(sqlite)
    notes = ["quick: 3 runs of 300 rows (smoke test)"] if ctx.quick else []
    return Measurement(
        subject=[r["subject"] for r in pg["runs"]],
        baseline=[r["baseline"] for r in pg["runs"]],
        subject_unit="rows/s",
        baseline_unit="rows/s",
        baseline_name="executemany, 1,000-row batches, same table (PostgreSQL), same run",
        notes=notes,
        extra={"pg": pg, "sqlite": sqlite},
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--drive":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "node.settings")
        print(json.dumps(drive(int(sys.argv[2]), int(sys.argv[3]))), flush=True)
    else:
        print(json.dumps({v: run_variant(v, 5, 2000) for v in ("pg", "sqlite")}, indent=2))

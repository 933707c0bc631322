"""B7 ``timeline``: p95 latency of ``microblog.timelines.home`` (first page, 20 posts) for dense
and sparse readers ÷ p95 of the dense ``join_follow`` stub, measured in the same job.

Data set (built once, reused while its fingerprint matches; PostgreSQL database
``redcloud_bench_b7``, SQLite file ``var/bench/b7-<posts>.sqlite3``), generated server-side with
``INSERT ... SELECT`` over a number series (a few minutes at most):

- 20,000 authors (every 10th local); 1,000,000 posts with ids 1..N. The oldest 20,000 posts
  belong to 1,000 **quiet** authors (20 each) who never post again; the other 980,000 are spread
  pseudo-randomly over 19,000 active authors. Visibility by ``id % 100``: 0 direct, 1–5
  followers-only, 6–15 unlisted, else public; 1 % deleted (tombstones); 1 % replies to the
  previous post; 5 % boosts of an earlier post.
- 30 **dense** readers following 500 random active authors each, 30 **sparse** readers following
  500 random quiet authors each (their follows' latest post is ~980,000 ids down).

Per run: ``reads`` interleaved reads of each kind (stub, dense, sparse), each reader in turn;
p95 per kind. Subject = the worse of dense and sparse p95 per run (the target holds for both);
the per-case ratios are in ``extra``. The stub is the plain
``SELECT p.* FROM post p JOIN follow f ON f.target_id = p.author_id WHERE f.follower_id = %s
AND f.state = 'accepted' ORDER BY p.id DESC LIMIT 20`` through the same Django connection; its
sparse latency (a walk of most of the table) is recorded once, for reference.

Standalone: ``python -m bench.b7_timeline [pg|sqlite]`` prints the figures as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.registry import Context, Measurement, benchmark
from bench.servers import PG_ADMIN_URL, ROOT

N_POSTS = 1_000_000
PAGE = 20
PG_DB = "redcloud_bench_b7"


def sqlite_path(n_posts: int) -> Path:
    return ROOT / "var" / "bench" / f"b7-{n_posts}.sqlite3"


def bench_env(variant: str, n_posts: int) -> dict[str, str]:
    """Environment of the driver process: production-like settings on the bench database."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "DATABASE_URL", "REDIS_URL"))}
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "node.settings",
        "PYTHONPATH": str(ROOT),
        "NODE_VAR_DIR": str(ROOT / "var" / "bench" / "b7-node"),
        "NODE_DOMAIN": "bench.example",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "k" * 50,
        "PYTHONUNBUFFERED": "1",
    }
    if variant == "pg":
        env["DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"
    else:
        sqlite_path(n_posts).parent.mkdir(parents=True, exist_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{sqlite_path(n_posts)}"
    return env


def ensure_pg_database(name: str) -> None:
    """Create PostgreSQL database ``name`` unless it exists (kept between runs: it is the cache)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def run_driver(
    variant: str, runs: int, reads: int, n_posts: int = N_POSTS, *, script: str = "bench.b7_timeline"
) -> dict[str, Any]:
    """Run ``script --drive`` in a fresh process on the bench database; its JSON result."""
    if variant == "pg":
        ensure_pg_database(PG_DB)
    out = subprocess.run(
        [sys.executable, "-m", script, "--drive", variant, str(runs), str(reads), str(n_posts)],
        cwd=ROOT,
        env=bench_env(variant, n_posts),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"driver failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- inside the driver


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def drive(variant: str, runs: int, reads: int, n_posts: int) -> dict[str, Any]:
    """(Inside Django, on the bench database.) Build or reuse the data set, then measure."""
    import django

    django.setup()
    from django.db import connection

    from bench import timeline_data as b7_data
    from federation.models import Actor
    from microblog import timelines

    built = b7_data.ensure_dataset(n_posts)
    dense, sparse = b7_data.readers()
    follow = "federation_follow"
    stub_sql = (
        f"SELECT p.* FROM microblog_post p JOIN {follow} f ON f.target_id = p.author_id "  # noqa: S608
        "WHERE f.follower_id = %s AND f.state = 'accepted' ORDER BY p.id DESC LIMIT 20"
    )

    def stub(reader: int) -> int:
        with connection.cursor() as cur:
            cur.execute(stub_sql, [reader])
            return len(cur.fetchall())

    def home(reader: int) -> int:
        return len(timelines.home(Actor(pk=reader), limit=PAGE))

    def timed(fn: Any, reader: int) -> float:
        start = time.perf_counter()
        fn(reader)
        return (time.perf_counter() - start) * 1000

    sizes = {"dense": [home(r) for r in dense], "sparse": [home(r) for r in sparse], "stub": [stub(r) for r in dense]}
    queries = b7_data.count_queries(lambda: home(dense[0])), b7_data.count_queries(lambda: home(sparse[0]))
    results = []
    for _ in range(runs):
        samples: dict[str, list[float]] = {"stub": [], "dense": [], "sparse": []}
        for k in range(reads):
            order = [("stub", stub, dense), ("dense", home, dense), ("sparse", home, sparse)]
            for name, fn, group in order[k % 3 :] + order[: k % 3]:
                samples[name].append(timed(fn, group[k % len(group)]))
        results.append({name: {"p95": p95(v), "median": statistics.median(v)} for name, v in samples.items()})
    stub_sparse = [timed(stub, sparse[k]) for k in range(3)]
    return {
        "vendor": connection.vendor,
        "posts": n_posts,
        "dataset_built_seconds": built,
        "runs": results,
        "page_sizes": {k: [min(v), max(v)] for k, v in sizes.items()},
        "queries_per_read": {"dense": queries[0], "sparse": queries[1]},
        "stub_sparse_ms": stub_sparse,
    }


# ----------------------------------------------------------------------------- benchmark


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    """Per-case p95 ratios to the stub (median over runs)."""
    runs = data["runs"]
    out = {}
    for case in ("dense", "sparse"):
        out[f"{case}_ratio"] = statistics.median(r[case]["p95"] / r["stub"]["p95"] for r in runs)
        out[f"{case}_p95_ms"] = statistics.median(r[case]["p95"] for r in runs)
    out["stub_p95_ms"] = statistics.median(r["stub"]["p95"] for r in runs)
    out["stub_sparse_median_ms"] = statistics.median(data["stub_sparse_ms"])
    return out


@benchmark(
    "B7",
    title="timeline",
    metric="home p95 (worse of dense, sparse) ÷ dense join_follow stub p95",
    target=6.0,
    stretch=3.0,
    higher_is_better=False,
)
def timeline(ctx: Context) -> Measurement:
    runs, reads = (5, 60) if ctx.quick else (ctx.runs, 200)
    data = run_driver("pg", runs, reads)
    worst = [max(r["dense"]["p95"], r["sparse"]["p95"]) for r in data["runs"]]
    summary = summarise(data)
    notes = [
        f"dense {summary['dense_ratio']:.2f}×, sparse {summary['sparse_ratio']:.2f}× the stub "
        f"({summary['stub_p95_ms']:.2f} ms p95); stub on sparse readers {summary['stub_sparse_median_ms']:.0f} ms"
    ]
    return Measurement(
        subject=worst,
        baseline=[r["stub"]["p95"] for r in data["runs"]],
        subject_unit="ms p95",
        baseline_unit="ms p95",
        baseline_name="JOIN follow ... ORDER BY id DESC LIMIT 20 (dense readers), PostgreSQL, same job",
        notes=notes,
        extra={"pg": data, "summary": summary},
    )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--drive":
        result = drive(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        print(json.dumps(result), flush=True)
    else:
        variant = sys.argv[1] if len(sys.argv) > 1 else "pg"
        data = run_driver(variant, 5, 200)
        print(json.dumps({"summary": summarise(data), **data}, indent=2))

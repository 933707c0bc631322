"""B7f ``post-fanout``: cost of posting for an author with 10,000 local followers — the real
``microblog.services.create_post`` with its after-commit effects run inline (Celery eager:
``surface_post`` and ``federate_post``) — ÷ the same for an author with no followers, same
database, same run. Also recorded: ``surface_post`` alone, and SQL statements per post.

Home timelines are computed on read (``microblog.home_feed``), so a post writes nothing per
local follower: the ratio should stay near 1 whatever the follower count. No target in
BENCHMARKS.md (the figures are asked for the results file); 2.0 is ours, so the result is
marked provisional. PostgreSQL, a fresh database ``redcloud_bench_fanout`` per job, schema
from the models (``bench.timeline_data``).

Standalone: ``python -m bench.b7_fanout`` prints the figures as JSON.
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
from bench.servers import PG_ADMIN_URL, ROOT, create_pg_database, drop_pg_database

DB = "redcloud_bench_fanout"
FOLLOWERS = 10_000


def _env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "DATABASE_URL", "REDIS_URL"))}
    return {
        **keep,
        "DJANGO_SETTINGS_MODULE": "node.settings",
        "PYTHONPATH": str(ROOT),
        "NODE_VAR_DIR": str(ROOT / "var" / "bench" / "fanout-node"),
        "NODE_DOMAIN": "bench.example",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "k" * 50,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}",
    }


def drive(runs: int, posts: int) -> dict[str, Any]:
    """(Inside Django, on the fresh fan-out database.) Build authors and followers, measure."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench import timeline_data
    from federation.actors import create_local_actor
    from federation.models import Actor, Follow
    from microblog import effects, services
    from node.celery import app

    app.conf.task_always_eager = True  # after-commit tasks run inline: their cost is part of posting
    app.conf.task_eager_propagates = True
    timeline_data._create_schema()
    users = get_user_model().objects
    popular = create_local_actor(username="popular", user=users.create_user(username="popular"), name="Popular")
    lonely = create_local_actor(username="lonely", user=users.create_user(username="lonely"), name="Lonely")
    base = 1_000_000
    timeline_data.insert_series(
        Actor,
        base + 1,
        base + FOLLOWERS,
        {
            "id": "i",
            "ap_id": "'https://bench.example/f/' || i",
            "local": "TRUE",
            "username": "'f' || i",
            "domain": "'bench.example'",
        },
    )
    timeline_data.insert_series(
        Follow,
        base + 1,
        base + FOLLOWERS,
        {"id": f"i - {base}", "follower_id": "i", "target_id": str(popular.pk), "state": "'accepted'"},
    )
    with connection.cursor() as cur:
        cur.execute("SELECT setval(pg_get_serial_sequence('federation_follow', 'id'), %s)", [FOLLOWERS])
        cur.execute("ANALYZE")
    assert Follow.objects.filter(target=popular, follower__local=True).count() == FOLLOWERS

    serial = [0]

    def post(author: Actor) -> tuple[float, int, int]:
        serial[0] += 1
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            created = services.create_post(author, text=f"post {serial[0]} #bench")
            elapsed = (time.perf_counter() - start) * 1000
        return elapsed, len(ctx.captured_queries), created.pk

    def surface(post_id: int) -> tuple[float, int]:
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            effects.surface_post(post_id)
            return (time.perf_counter() - start) * 1000, len(ctx.captured_queries)

    post(popular), post(lonely)  # warm-up
    results = []
    for i in range(runs):
        rec: dict[str, Any] = {}
        pair = [("popular", popular), ("lonely", lonely)]
        for name, author in pair if i % 2 == 0 else pair[::-1]:
            made = [post(author) for _ in range(posts)]
            surfaced = [surface(pk) for _, _, pk in made]
            rec[name] = {
                "create_ms": statistics.mean(m[0] for m in made),
                "create_queries": max(m[1] for m in made),
                "surface_ms": statistics.mean(s[0] for s in surfaced),
                "surface_queries": max(s[1] for s in surfaced),
            }
        results.append(rec)
    return {"followers": FOLLOWERS, "posts_per_run": posts, "runs": results, "vendor": connection.vendor}


def run(runs: int, posts: int) -> dict[str, Any]:
    """Fresh database, driver in a clean process, database dropped afterwards."""
    create_pg_database(DB)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.b7_fanout", "--drive", str(runs), str(posts)],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        if out.returncode != 0:
            raise RuntimeError(f"driver failed ({out.returncode}): {out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        drop_pg_database(DB)


@benchmark(
    "B7f",
    title="post-fanout",
    metric="create_post+effects ms, 10,000 local followers ÷ no followers",
    target=2.0,
    stretch=1.2,
    higher_is_better=False,
)
def post_fanout(ctx: Context) -> Measurement:
    data = run(ctx.runs, 5 if ctx.quick else 20)
    runs = data["runs"]
    last = runs[-1]["popular"]
    return Measurement(
        subject=[r["popular"]["create_ms"] for r in runs],
        baseline=[r["lonely"]["create_ms"] for r in runs],
        subject_unit="ms/post",
        baseline_unit="ms/post",
        baseline_name="create_post (+ eager surface_post, federate_post) by an author without followers, same run",
        provisional=True,
        notes=[
            f"{FOLLOWERS:,} local followers: {last['create_queries']} SQL statements per post "
            f"(incl. effects), surface_post {statistics.median(r['popular']['surface_ms'] for r in runs):.2f} ms "
            f"and {last['surface_queries']} statements; no per-follower writes (home is built on read)",
            "target 2.0 is ours (BENCHMARKS.md asks for the figures only)",
        ],
        extra=data,
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--drive":
        print(json.dumps(drive(int(sys.argv[2]), int(sys.argv[3]))), flush=True)
    else:
        print(json.dumps(run(5, 20), indent=2))

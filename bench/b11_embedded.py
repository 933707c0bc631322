"""B11 ``embedded-mode``, timeline part: B7 on the embedded default (SQLite) against B7 on
PostgreSQL. Both databases hold the same 1,000,000-post data set (``bench.timeline_data``;
``--quick`` uses 200,000 posts for SQLite and says so).

Ratio = PostgreSQL home p95 ÷ SQLite home p95 (worse of dense and sparse each), i.e. SQLite's
speed as a fraction of PostgreSQL's: ≥ 0.50 means the embedded node reads home timelines at
most twice as slowly. The PostgreSQL figures are B7's from the same job when B7 ran first,
else measured here. SQLite's own B7 ratio (to its own ``join_follow`` stub) is in ``extra``.
B3/B4 under SQLite are recorded by those benchmarks (``extra["sqlite"]``).
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.b7_timeline import N_POSTS, run_driver, summarise
from bench.registry import Context, Measurement, benchmark


def _worst(data: dict[str, Any]) -> list[float]:
    return [max(r["dense"]["p95"], r["sparse"]["p95"]) for r in data["runs"]]


@benchmark(
    "B11",
    title="embedded-timeline",
    metric="PostgreSQL home p95 ÷ SQLite home p95 (B7 data set)",
    target=0.50,
    stretch=0.80,
)
def embedded_timeline(ctx: Context) -> Measurement:
    runs, reads = (5, 60) if ctx.quick else (ctx.runs, 200)
    sqlite_posts = 200_000 if ctx.quick else N_POSTS
    b7 = ctx.results.get("B7", {})
    pg = b7.get("extra", {}).get("pg") if b7.get("verdict") in ("pass", "fail") else None
    if pg is None:
        pg = run_driver("pg", runs, reads)
    lite = run_driver("sqlite", runs, reads, sqlite_posts)
    pg_worst, lite_worst = _worst(pg), _worst(lite)
    n = min(len(pg_worst), len(lite_worst))
    lite_summary = summarise(lite)
    notes = [
        f"SQLite B7 ratios (to its own stub): dense {lite_summary['dense_ratio']:.2f}, "
        f"sparse {lite_summary['sparse_ratio']:.2f}; home p95 {statistics.median(lite_worst):.2f} ms "
        f"vs PostgreSQL {statistics.median(pg_worst):.2f} ms"
    ]
    if sqlite_posts != N_POSTS:
        notes.append(f"quick: SQLite data set of {sqlite_posts:,} posts")
    return Measurement(
        subject=pg_worst[:n],
        baseline=lite_worst[:n],
        subject_unit="ms p95 (PostgreSQL)",
        baseline_unit="ms p95 (SQLite)",
        baseline_name="the same home reads on SQLite (embedded default); runs paired by index",
        notes=notes,
        extra={"sqlite": lite, "sqlite_summary": lite_summary, "pg_summary": summarise(pg)},
    )

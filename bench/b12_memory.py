"""B12 ``memory``: resident memory of one county node as deployed (deploy/systemd) — web
(gunicorn with ``deploy/gunicorn.conf.py``: master + 2 sync workers, app preloaded) and the one
Celery worker process (all queues, threads pool ``--concurrency 8``, beat as a thread through
``--beat-thread``) — idle after start, and at the end of a B3 run.

Absolute MB, not a ratio: the harness's baseline is a constant 1 MB, so the "ratio" is the MB
figure and the targets are BENCHMARKS.md's (idle ≤ 350 MB, stretch ≤ 250; loaded ≤ 700 MB).

- The node is the one B3 starts (``bench.b3_inbox_accept.session``; shared when B3 ran in the
  same process): PostgreSQL + Redis is the primary figure; the embedded default (SQLite, file
  broker) is under ``extra`` (full runs only).
- Idle: 5 samples 0.2 s apart, a few seconds after every process is ready, before any request.
- Loaded: after B3's timed runs, the paused worker resumed and draining the stored backlog for a
  bounded window (10 s; 1 s in ``--quick``), then 5 samples.
- Metric: the sum of RSS over every process (``/proc/<pid>/statm``). RSS counts the pages the
  gunicorn workers share with their preloaded master once per process, so the sum overstates
  what the node uses; the PSS sum (shared pages split between sharers, ``smaps_rollup``) is the
  better measure of the memory the node costs and is recorded beside it, per process too.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.b3_inbox_accept import session
from bench.registry import Context, Measurement, benchmark


def _per_process(sample: dict[str, Any], key: str) -> dict[str, list[float]]:
    return {name: [round(p[key] / 1024, 1) for p in rows] for name, rows in sample["processes"].items()}


def _figures(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rss_mb_median": statistics.median(s["rss_mb"] for s in samples),
        "pss_mb_median": statistics.median(s["pss_mb"] for s in samples),
        "processes": sum(len(rows) for rows in samples[-1]["processes"].values()),
        "rss_mb_per_process": _per_process(samples[-1], "rss_kb"),
        "pss_mb_per_process": _per_process(samples[-1], "pss_kb"),
    }


def _measurement(ctx: Context, key: str) -> Measurement:
    pg = session("pg", ctx.quick)
    samples = pg[key]
    extra: dict[str, Any] = {"pg": _figures(samples)}
    notes = [
        "sum of RSS over the web (gunicorn master + 2 workers) and worker (one process, beat thread) trees; "
        "PSS sum in extra"
    ]
    if key == "memory_loaded":
        extra["drained_during_window"] = pg["drained_during_window"]
        extra["stored_total"] = pg["stored_total"]
        extra["gunicorn_autorestarts"] = pg["gunicorn_log_restarts"]
    if not ctx.quick:
        extra["sqlite"] = _figures(session("sqlite", ctx.quick)[key])
    return Measurement(
        subject=[s["rss_mb"] for s in samples],
        baseline=[1.0] * len(samples),
        subject_unit="MB",
        baseline_unit="MB",
        baseline_name="absolute (constant 1 MB: the ratio is the MB figure)",
        notes=notes,
        extra=extra,
    )


@benchmark(
    "B12",
    title="memory-idle",
    metric="RSS MB of web + worker (beat inside), idle",
    target=350,
    stretch=250,
    higher_is_better=False,
)
def memory_idle(ctx: Context) -> Measurement:
    return _measurement(ctx, "memory_idle")


@benchmark(
    "B12-loaded",
    title="memory-loaded",
    metric="RSS MB of web + worker (beat inside) after B3",
    target=700,
    higher_is_better=False,
)
def memory_loaded(ctx: Context) -> Measurement:
    return _measurement(ctx, "memory_loaded")

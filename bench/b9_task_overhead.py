"""B9 ``task-overhead``: CPU of a no-op Celery task ÷ CPU of one delivery task.

Method: measured in the same driver run as B4 (``bench/b4_deliver.py``), through the same real
Celery worker (``-P solo``, file-system broker of the embedded default, or Redis when
``REDIS_URL`` is set), so both sides pay the real broker, deserialisation and tracing costs:

- no-op: a burst of ``NOOP_TASKS`` ``bench.noop`` tasks (plus one ``bench.mark`` that touches a
  file so the driver knows the burst is consumed); worker CPU (``/proc`` utime + stime, minus
  its idle polling CPU over the same wall time) ÷ tasks;
- delivery task: one ``federation.deliver.activity`` task carrying 145 signed deliveries to the
  fake inboxes (202 at once), worker CPU per task from the B4 runs.

ratio = no-op CPU ÷ delivery-task CPU; 5 runs, median/min/max; target ≤ 0.25, stretch ≤ 0.10.
The tasks below are imported by the bench worker (``--include bench.b9_task_overhead``).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from celery import shared_task

from bench.registry import Context, Measurement, benchmark

TARGET, STRETCH = 0.25, 0.10


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    """Does nothing: the cost is Celery's own."""


@shared_task(name="bench.mark", ignore_result=True)
def mark(path: str) -> None:
    """Touch ``path`` so the bench driver knows the worker reached this point."""
    Path(path).touch()


def summarise_b9(raw: dict[str, Any]) -> dict[str, Any]:
    """The B9 result from the B4 driver's raw figures."""
    per_task = [r["worker_cpu_s"] / raw["activities_per_run"] for r in raw["runs"]]
    ratios = [r["noop_task_cpu_s"] / t for r, t in zip(raw["runs"], per_task, strict=True)]
    median = statistics.median(ratios)
    return {
        "id": "B9",
        "name": "task-overhead",
        "metric": f"no-op task CPU ÷ CPU of one delivery task ({raw['inboxes']} deliveries)",
        "ratio": {"median": median, "min": min(ratios), "max": max(ratios)},
        "noop_task_cpu_ms": statistics.median(r["noop_task_cpu_s"] for r in raw["runs"]) * 1000,
        "delivery_task_cpu_ms": statistics.median(per_task) * 1000,
        "target": TARGET,
        "stretch": STRETCH,
        "passed": median <= TARGET,
    }


@benchmark(
    "B9",
    title="task-overhead",
    metric="no-op task CPU ÷ delivery task CPU",
    target=TARGET,
    stretch=STRETCH,
    higher_is_better=False,
)
def task_overhead(ctx: Context) -> Measurement:
    """B9 from the shared B4 driver run; see the module docstring."""
    from bench.b4_deliver import driver_for

    raw = driver_for(ctx)
    return Measurement(
        subject=[r["noop_task_cpu_s"] * 1000 for r in raw["runs"]],
        baseline=[r["worker_cpu_s"] / raw["activities_per_run"] * 1000 for r in raw["runs"]],
        subject_unit="ms CPU per no-op task",
        baseline_unit="ms CPU per delivery task",
        baseline_name=f"federation.deliver.activity carrying {raw['inboxes']} deliveries, same worker and run",
    )


def run() -> dict[str, Any]:
    """B9 through a real worker; see the module docstring."""
    from bench.b4_deliver import driver_output

    return summarise_b9(driver_output())

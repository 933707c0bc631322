"""Benchmark registry. A benchmark module registers itself with the decorator:

    from bench.registry import benchmark, Context, Measurement

    @benchmark("B3", title="inbox-accept", metric="req/s ÷ noop req/s", target=0.40, stretch=0.55)
    def inbox_accept(ctx: Context) -> Measurement:
        ...
        return Measurement(subject=[...], baseline=[...], subject_unit="req/s", ...)

Modules named ``b<digits>_*.py`` in this package are imported automatically (``discover``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_MODULE_RE = re.compile(r"^b\d+[a-z]?_\w+$")


@dataclass
class Measurement:
    """What a benchmark returns: one subject value and one baseline value per run (same order,
    measured in the same process run), with units. ``baseline_name`` says what the denominator is."""

    subject: list[float]
    baseline: list[float]
    subject_unit: str
    baseline_unit: str
    baseline_name: str
    provisional: bool = False
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Run settings handed to each benchmark, plus the results of benchmarks already run."""

    quick: bool
    runs: int
    min_time: float  # seconds per timed loop
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    """A registered benchmark and its target from BENCHMARKS.md."""

    id: str
    title: str
    metric: str
    target: float
    stretch: float | None
    higher_is_better: bool
    func: Callable[[Context], Measurement]


REGISTRY: dict[str, Spec] = {}
IMPORT_ERRORS: dict[str, str] = {}  # module name -> error, so one broken module does not stop the rest


def benchmark(
    bench_id: str,
    *,
    title: str,
    metric: str,
    target: float,
    stretch: float | None = None,
    higher_is_better: bool = True,
) -> Callable[[Callable[[Context], Measurement]], Callable[[Context], Measurement]]:
    """Register ``func`` as benchmark ``bench_id`` (e.g. "B1"); ids must be unique."""

    def register(func: Callable[[Context], Measurement]) -> Callable[[Context], Measurement]:
        if bench_id in REGISTRY and REGISTRY[bench_id].func is not func:
            raise ValueError(f"benchmark {bench_id} registered twice")
        REGISTRY[bench_id] = Spec(bench_id, title, metric, target, stretch, higher_is_better, func)
        return func

    return register


def discover() -> dict[str, Spec]:
    """Import every ``bench/b<N>_*.py`` module so it registers; return the registry."""
    import bench

    for info in pkgutil.iter_modules(bench.__path__):
        if _MODULE_RE.match(info.name):
            try:
                importlib.import_module(f"bench.{info.name}")
            except Exception as exc:  # reported in the results, not fatal
                IMPORT_ERRORS[info.name] = f"{type(exc).__name__}: {exc}"
    return REGISTRY


def sort_key(bench_id: str) -> tuple[int, str]:
    """Natural order: B1 < B2 < B3 < B3b < B10."""
    match = re.match(r"^B(\d+)(.*)$", bench_id)
    return (int(match.group(1)), match.group(2)) if match else (10**6, bench_id)

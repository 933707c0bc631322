"""Run registered benchmarks, compute median/min/max and per-run ratios, judge them against
the targets, write ``bench/results/latest.json`` and print a table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.registry import IMPORT_ERRORS, Context, Measurement, Spec, discover, sort_key

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
MIN_RUNS = 5


def summary(values: list[float]) -> dict[str, float]:
    """Median, min and max of a non-empty list."""
    if not values:
        raise ValueError("no values")
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratios(subject: list[float], baseline: list[float]) -> list[float]:
    """Per-run ratios subject[i] / baseline[i] (runs are paired: measured back to back)."""
    if len(subject) != len(baseline) or not subject:
        raise ValueError("subject and baseline need the same, non-zero number of runs")
    if any(b <= 0 for b in baseline):
        raise ValueError("baseline values must be positive")
    return [s / b for s, b in zip(subject, baseline, strict=True)]


def verdict(ratio: float, target: float, stretch: float | None, higher_is_better: bool) -> tuple[str, bool]:
    """("pass" | "fail", stretch met?) for the median ratio."""

    def meets(bar: float) -> bool:
        return ratio >= bar if higher_is_better else ratio <= bar

    return ("pass" if meets(target) else "fail"), (stretch is not None and meets(stretch))


def evaluate(spec: Spec, m: Measurement) -> dict[str, Any]:
    """The JSON record of one benchmark: raw runs, summaries, ratio, target, stretch, verdict."""
    per_run = ratios(m.subject, m.baseline)
    ratio = statistics.median(per_run)
    result, stretch_met = verdict(ratio, spec.target, spec.stretch, spec.higher_is_better)
    return {
        "id": spec.id,
        "title": spec.title,
        "metric": spec.metric,
        "runs": len(m.subject),
        "subject": {"unit": m.subject_unit, "values": m.subject, **summary(m.subject)},
        "baseline": {"name": m.baseline_name, "unit": m.baseline_unit, "values": m.baseline, **summary(m.baseline)},
        "ratios": per_run,
        "ratio": ratio,
        "ratio_min": min(per_run),
        "ratio_max": max(per_run),
        "target": spec.target,
        "stretch": spec.stretch,
        "direction": "higher is better" if spec.higher_is_better else "lower is better",
        "verdict": result,
        "stretch_met": stretch_met,
        "provisional": m.provisional,
        "notes": m.notes,
        "extra": m.extra,
    }


def rate(fn: Callable[[], object], min_time: float, max_iterations: int = 2_000_000) -> float:
    """Calls per second of ``fn``: a calibrated loop running at least ``min_time`` seconds
    (bounded by ``max_iterations``)."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or n >= max_iterations:
            return n / elapsed
        n = min(max_iterations, max(n * 2, int(n * min_time / max(elapsed, 1e-9) * 1.1)))


def paired_rates(
    subject: Callable[[], object], baseline: Callable[[], object], ctx: Context
) -> tuple[list[float], list[float]]:
    """``ctx.runs`` paired measurements (ops/s), alternating which side goes first."""
    subject(), baseline()  # warm caches and code paths
    subj: list[float] = []
    base: list[float] = []
    for i in range(ctx.runs):
        if i % 2:
            subj.append(rate(subject, ctx.min_time))
            base.append(rate(baseline, ctx.min_time))
        else:
            base.append(rate(baseline, ctx.min_time))
            subj.append(rate(subject, ctx.min_time))
    return subj, base


def machine_facts() -> dict[str, Any]:
    """Facts that make numbers comparable: CPU, Python, library versions, load, commit."""
    facts: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend

        facts["cryptography"] = cryptography.__version__
        facts["openssl"] = backend.openssl_version_text()
    except Exception:  # noqa: S110 - facts are best effort
        pass
    try:
        import nh3

        facts["nh3"] = getattr(nh3, "__version__", "?")
    except ImportError:
        pass
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        facts["commit"] = out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return facts


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def table(records: list[dict[str, Any]]) -> str:
    """A readable summary table."""
    header = (
        f"{'id':<5} {'benchmark':<16} {'subject (median)':>22} {'baseline (median)':>22} "
        f"{'ratio':>7} {'target':>8} {'verdict':<18}"
    )
    lines = [header, "-" * len(header)]
    for r in records:
        if "error" in r:
            lines.append(f"{r['id']:<5} {r['title']:<16} ERROR: {r['error']}")
            continue
        op = ">=" if r["direction"].startswith("higher") else "<="
        mark = (
            r["verdict"].upper()
            + (" (stretch)" if r["stretch_met"] else "")
            + (" provisional" if r["provisional"] else "")
        )
        lines.append(
            f"{r['id']:<5} {r['title']:<16} {_fmt(r['subject']['median']) + ' ' + r['subject']['unit']:>22} "
            f"{_fmt(r['baseline']['median']) + ' ' + r['baseline']['unit']:>22} "
            f"{r['ratio']:>7.3f} {op + str(r['target']):>8} {mark:<18}"
        )
        for note in r["notes"]:
            lines.append(f"      note: {note}")
    return "\n".join(lines)


def run(only: list[str] | None, quick: bool, runs: int | None, out: Path) -> tuple[list[dict[str, Any]], int]:
    """Run the selected benchmarks in natural id order; write JSON to ``out``."""
    specs = discover()
    wanted = sorted((only or specs.keys()), key=sort_key)
    unknown = [b for b in wanted if b not in specs]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(sorted(specs, key=sort_key))}")
    ctx = Context(quick=quick, runs=max(MIN_RUNS, runs or (MIN_RUNS if quick else 7)), min_time=0.02 if quick else 0.3)
    records: list[dict[str, Any]] = []
    started = time.time()
    for bench_id in wanted:
        spec = specs[bench_id]
        t0 = time.perf_counter()
        try:
            record = evaluate(spec, spec.func(ctx))
        except Exception as exc:
            record = {
                "id": spec.id,
                "title": spec.title,
                "verdict": "error",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=5),
                "provisional": False,
            }
        record["seconds"] = round(time.perf_counter() - t0, 2)
        ctx.results[bench_id] = record
        records.append(record)
    failed = sum(1 for r in records if r["verdict"] in ("fail", "error") and not r.get("provisional"))
    doc = {
        "schema": 1,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "runs_per_benchmark": ctx.runs,
        "seconds": round(time.time() - started, 1),
        "machine": machine_facts(),
        "benchmarks": {r["id"]: r for r in records},
        "import_errors": dict(IMPORT_ERRORS),
        "summary": {
            "passed": sum(1 for r in records if r["verdict"] == "pass"),
            "failed": failed,
            "provisional": [r["id"] for r in records if r.get("provisional")],
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    return records, failed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bench [--only B1,B2] [--quick] [--runs N] [--out PATH]``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Redcloud benchmarks (BENCHMARKS.md)")
    parser.add_argument("--only", help="comma-separated ids, e.g. B1,B2")
    parser.add_argument("--quick", action="store_true", help="short loops (smoke test, numbers are noisy)")
    parser.add_argument("--runs", type=int, help=f"runs per benchmark (minimum {MIN_RUNS})")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()] if args.only else None
    records, failed = run(only, args.quick, args.runs, args.out)
    print(table(records))
    for module, error in IMPORT_ERRORS.items():
        print(f"module bench.{module} failed to import: {error}")
    print(f"\nwritten: {args.out}")
    return 1 if failed else 0

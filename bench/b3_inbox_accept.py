"""B3 ``inbox-accept`` and B3b (latency, CPU): the real shared inbox under wrk, ÷ a noop view.

Method (loopback only, bounded):

- A fresh node (``bench.servers.BenchNode``): its own PostgreSQL database + its own Redis DB
  number (production configuration, DEBUG off), ``manage.py migrate`` run fresh, and 145 cached
  remote sender actors ``node-<i>.bench.test`` with real RSA-2048 keys (so no key fetch).
- Subject: ``gunicorn -c deploy/gunicorn.conf.py --workers 2 node.wsgi`` (sync workers = cores),
  ``POST /inbox`` — size/type checks, strict JSON, signature parse + host/date/digest checks,
  block and rate checks, origin rule, key lookup (DB), RSA verify, ``InboxItem`` insert in its own
  transaction, drain scheduled on commit (cache flag + Celery publish at most every 2 s), 202.
- Baseline: ``bench.noop`` — reads the body, answers 202 — served by the same gunicorn
  configuration (same config file, same worker count) and the **same Django settings and
  middleware stack** (only the URL map differs), measured in the same run, alternating order.
- Load: ``wrk -t1 -c8 -d10s --latency`` with ``bench/loadgen/cycle.lua`` cycling through unique
  signed 2.3 KB Create{Note} requests pre-generated for that run (rotating over the 145 senders;
  2× what the inbox can consume, so it replays nothing; a wrap-around is reported; the noop side
  reuses the same file and may wrap, which changes nothing for it).
- The node's Celery worker and beat run (so B12 sees the whole node), but the worker is paused
  (SIGSTOP) during the timed runs: B3 measures accepting, not processing (that is B6). After the
  runs it is resumed and drains for a bounded time before B12's "loaded" memory sample.
- Per run and side: 202s per second (B3), p99 latency from wrk (B3b), and server CPU per request
  = CPU of the gunicorn master + workers (``/proc``, utime+stime, recycled workers counted through
  the master's reaped-children time) ÷ responses (B3b-cpu). The stored InboxItem count must lie
  between the 202 count and the requests sent (in-flight at the end of a run); non-202s recorded.
- Full run: 5 runs × 10 s on PostgreSQL + Redis; then the embedded default (SQLite, file broker,
  file cache) as a second variant, 5 runs × 5 s, recorded under ``extra["sqlite"]`` for B11.
  ``--quick``: PostgreSQL only, 3 runs × 2 s (a smoke test; numbers are noisy).
"""

from __future__ import annotations

import signal
import statistics
import time
from typing import Any

from bench import loadgen
from bench.registry import Context, Measurement, benchmark
from bench.servers import BenchNode, sender_keys, tree_cpu_seconds

_SESSIONS: dict[tuple[str, bool], dict[str, Any]] = {}
HEADROOM = 2.0  # requests generated per run ÷ requests expected (the noop may wrap: harmless)


def _plan(variant: str, quick: bool) -> dict[str, float]:
    if quick:
        return {"runs": 3, "duration": 2.0, "settle": 1.0, "drain": 1.0}
    if variant == "sqlite":
        return {"runs": 5, "duration": 5.0, "settle": 4.0, "drain": 10.0}
    return {"runs": 5, "duration": 10.0, "settle": 4.0, "drain": 10.0}


def _side(node: BenchNode, name: str, port: int, path: Any, duration: float) -> dict[str, Any]:
    """One wrk run against one server; CPU and stored-row deltas around it."""
    root = node.procs[name].pid
    items0 = node.sql("SELECT count(*) FROM federation_inboxitem")
    cpu0 = tree_cpu_seconds(root)
    result = loadgen.run_wrk(port, path, duration)
    time.sleep(0.3)  # let requests still in flight when wrk stopped finish
    cpu1 = tree_cpu_seconds(root)
    stored = node.sql("SELECT count(*) FROM federation_inboxitem") - items0
    return {
        "rate": result.rate,
        "accepted": result.accepted,
        "responses": result.requests,
        "sent": result.sent,
        "wrapped": result.wrapped,
        "non_202": {str(k): v for k, v in result.statuses.items() if k != 202},
        "socket_errors": result.errors,
        "p50_ms": result.percentiles_ms.get("p50"),
        "p99_ms": result.percentiles_ms.get("p99"),
        "cpu_us_per_request": (cpu1 - cpu0) / max(1, result.requests) * 1e6,
        "stored": stored,
    }


def _memory_samples(node: BenchNode, count: int = 5) -> list[dict[str, Any]]:
    """``count`` memory samples of the node (web + worker + beat), 0.2 s apart."""
    samples = []
    for _ in range(count):
        samples.append(node.memory())
        time.sleep(0.2)
    return samples


def measure_variant(variant: str, quick: bool) -> dict[str, Any]:
    """Run B3 on one node variant ("pg" or "sqlite"); returns per-run figures and B12 samples."""
    plan = _plan(variant, quick)
    runs, duration = int(plan["runs"]), plan["duration"]
    out: dict[str, Any] = {"variant": variant, "runs": [], "plan": plan}
    with BenchNode(variant) as node:
        node.prepare()
        noop_port = node.start_node()
        time.sleep(plan["settle"])
        out["memory_idle"] = _memory_samples(node)
        node.signal("worker", signal.SIGSTOP)
        loadgen.load_keys(sender_keys())
        serial = 0

        def requests_file(count: int) -> Any:
            nonlocal serial
            path = node.var_dir / f"requests-{serial}.txt"
            loadgen.write_requests(path, node.domain, serial, count)
            serial += count
            return path

        # Warm-up (connections, imports, key cache) and the rate estimate for sizing the files.
        warm = requests_file(600)
        loadgen.run_wrk(noop_port, warm, 1)
        estimate = _side(node, "web", node.port, warm, 1)["rate"]
        for i in range(runs):
            path = requests_file(max(500, int(estimate * duration * HEADROOM)))
            sides = [("noop", noop_port), ("web", node.port)]
            record: dict[str, Any] = {}
            for name, port in sides if i % 2 == 0 else sides[::-1]:
                record["inbox" if name == "web" else "noop"] = _side(node, name, port, path, duration)
            estimate = max(estimate, record["inbox"]["rate"])
            path.unlink()
            out["runs"].append(record)
        node.signal("worker", signal.SIGCONT)
        time.sleep(plan["drain"])
        out["memory_loaded"] = _memory_samples(node)
        out["drained_during_window"] = node.sql("SELECT count(*) FROM federation_inboxitem WHERE state <> 'received'")
        out["stored_total"] = node.sql("SELECT count(*) FROM federation_inboxitem")
        # deploy/gunicorn.conf.py recycles a worker every max_requests (2000 ± 200) requests.
        out["gunicorn_log_restarts"] = (node.var_dir / "web.log").read_text(errors="replace").count("Autorestarting")
        out["noop_log_restarts"] = (node.var_dir / "noop.log").read_text(errors="replace").count("Autorestarting")
    return out


def session(variant: str, quick: bool) -> dict[str, Any]:
    """The measurements of one variant, run once per process and shared by B3, B3b, B12."""
    key = (variant, quick)
    if key not in _SESSIONS:
        _SESSIONS[key] = measure_variant(variant, quick)
    return _SESSIONS[key]


def check(runs: list[dict[str, Any]]) -> list[str]:
    """Problems with a variant's runs: drops (202 without a row), replays, non-202s, errors."""
    problems = []
    for n, run in enumerate(runs, 1):
        inbox = run["inbox"]
        if inbox["stored"] < inbox["accepted"]:
            problems.append(f"run {n}: {inbox['accepted'] - inbox['stored']} activities answered 202 but not stored")
        if inbox["stored"] > inbox["sent"]:
            problems.append(f"run {n}: more rows stored ({inbox['stored']}) than requests sent ({inbox['sent']})")
        if inbox["wrapped"]:
            problems.append(f"run {n}: the request list wrapped around (replays were sent)")
        for side in ("inbox", "noop"):
            if run[side]["non_202"]:
                problems.append(f"run {n}: {side} answered non-202 statuses {run[side]['non_202']}")
            if any(run[side]["socket_errors"].values()):
                problems.append(f"run {n}: {side} socket errors {run[side]['socket_errors']}")
    return problems


def _series(runs: list[dict[str, Any]], side: str, key: str) -> list[float]:
    return [float(r[side][key]) for r in runs]


def _variant_summary(data: dict[str, Any]) -> dict[str, Any]:
    runs = data["runs"]
    rate_ratio = [i / n for i, n in zip(_series(runs, "inbox", "rate"), _series(runs, "noop", "rate"), strict=True)]
    return {
        "inbox_rate_median": statistics.median(_series(runs, "inbox", "rate")),
        "noop_rate_median": statistics.median(_series(runs, "noop", "rate")),
        "rate_ratio_median": statistics.median(rate_ratio),
        "inbox_p99_ms_median": statistics.median(_series(runs, "inbox", "p99_ms")),
        "noop_p99_ms_median": statistics.median(_series(runs, "noop", "p99_ms")),
        "inbox_cpu_us_median": statistics.median(_series(runs, "inbox", "cpu_us_per_request")),
        "noop_cpu_us_median": statistics.median(_series(runs, "noop", "cpu_us_per_request")),
        "problems": check(runs),
        "plan": data["plan"],
        "runs": runs,
    }


@benchmark(
    "B3", title="inbox-accept", metric="req/s ÷ noop POST req/s (same gunicorn config)", target=0.40, stretch=0.55
)
def inbox_accept(ctx: Context) -> Measurement:
    pg = session("pg", ctx.quick)
    summary = _variant_summary(pg)
    extra: dict[str, Any] = {
        "server_cpu_us_per_request": summary["inbox_cpu_us_median"],
        "noop_cpu_us_per_request": summary["noop_cpu_us_median"],
        "pg": summary,
        "drained_during_window": pg["drained_during_window"],
        "gunicorn_autorestarts": pg["gunicorn_log_restarts"],
        "noop_gunicorn_autorestarts": pg["noop_log_restarts"],
        "baseline_stack": "bench.noop: same gunicorn config and worker count, same Django settings and middleware",
        "load": "wrk -t1 -c8 --latency, unique signed 2.3 KB Create{Note}, 145 senders",
    }
    notes = list(summary["problems"])
    if not ctx.quick:
        sqlite = session("sqlite", ctx.quick)
        extra["sqlite"] = _variant_summary(sqlite)
        extra["sqlite"]["ratio_to_pg_rate"] = extra["sqlite"]["inbox_rate_median"] / summary["inbox_rate_median"]
        notes += [f"sqlite: {p}" for p in extra["sqlite"]["problems"]]
    else:
        notes.append("quick: 3 runs × 2 s, PostgreSQL only (smoke test)")
    return Measurement(
        subject=_series(pg["runs"], "inbox", "rate"),
        baseline=_series(pg["runs"], "noop", "rate"),
        subject_unit="req/s",
        baseline_unit="req/s",
        baseline_name="noop POST view (bench.noop), same gunicorn config, same run",
        notes=notes,
        extra=extra,
    )


@benchmark(
    "B3b",
    title="inbox-p99",
    metric="inbox p99 ÷ noop p99 (wrk --latency)",
    target=3.0,
    stretch=2.0,
    higher_is_better=False,
)
def inbox_latency(ctx: Context) -> Measurement:
    pg = session("pg", ctx.quick)
    extra: dict[str, Any] = {}
    notes = []
    if pg["noop_log_restarts"]:
        notes.append(
            f"gunicorn max_requests recycled noop workers {pg['noop_log_restarts']}× and inbox workers "
            f"{pg['gunicorn_log_restarts']}× during the runs: each recycle stalls its connections while the "
            "new worker imports Django, which inflates p99 (more for the faster noop side)"
        )
    if not ctx.quick:
        sqlite = _variant_summary(session("sqlite", ctx.quick))
        extra["sqlite_p99_ratio"] = sqlite["inbox_p99_ms_median"] / sqlite["noop_p99_ms_median"]
    return Measurement(
        subject=_series(pg["runs"], "inbox", "p99_ms"),
        baseline=_series(pg["runs"], "noop", "p99_ms"),
        subject_unit="ms",
        baseline_unit="ms",
        baseline_name="noop POST view p99, same run",
        notes=notes,
        extra=extra,
    )


@benchmark(
    "B3b-cpu",
    title="inbox-cpu",
    metric="server CPU/req ÷ noop CPU/req",
    target=2.5,
    stretch=2.0,
    higher_is_better=False,
)
def inbox_cpu(ctx: Context) -> Measurement:
    pg = session("pg", ctx.quick)
    extra: dict[str, Any] = {}
    if not ctx.quick:
        sqlite = _variant_summary(session("sqlite", ctx.quick))
        extra["sqlite_cpu_ratio"] = sqlite["inbox_cpu_us_median"] / sqlite["noop_cpu_us_median"]
    return Measurement(
        subject=_series(pg["runs"], "inbox", "cpu_us_per_request"),
        baseline=_series(pg["runs"], "noop", "cpu_us_per_request"),
        subject_unit="µs/req",
        baseline_unit="µs/req",
        baseline_name="noop POST view CPU per request (gunicorn master + workers), same run",
        extra=extra,
    )

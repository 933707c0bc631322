"""Real node processes for the server benchmarks (B3, B10, B12): a private bench database,
gunicorn and the Celery worker (with beat as a thread) started the way a county node runs
them (deploy/systemd), all on loopback, all stopped by their own process group (``stop``),
never by name.

``BenchNode`` owns one node: its var dir, its database (a PostgreSQL database it creates and
drops, or the embedded SQLite file) and a dedicated Redis DB number it flushes (that DB only).
Standalone helper commands run inside the node's environment:
``python -m bench.servers seed KEYFILE`` creates the remote sender actors with their keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# Flushed by the bench: database 14, apart from the test devnets' (1-13) and the unit tests' (15).
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
KEY_CACHE = ROOT / "var" / "bench" / "sender-keys.json"
SENDERS = 145
QUEUES = ("inbox", "deliver", "fanout", "media", "default")  # settings.NODE_QUEUES
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# ----------------------------------------------------------------------------- senders


def sender_base(i: int) -> str:
    """The actor id of remote sender ``i`` (one host per sender, like 145 peer nodes)."""
    return f"https://node-{i}.bench.test/users/u{i}"


def sender_keys(count: int = SENDERS) -> list[str]:
    """``count`` distinct RSA-2048 private PEMs, generated once and cached under ``var/bench``
    (test keys for fake peers only; generating 145 keys costs several seconds)."""
    keys: list[str] = []
    if KEY_CACHE.exists():
        with contextlib.suppress(ValueError, OSError):
            keys = list(json.loads(KEY_CACHE.read_text()))
    if len(keys) < count:
        from federation.keys import generate_key_pair

        keys += [generate_key_pair()[0] for _ in range(count - len(keys))]
        KEY_CACHE.parent.mkdir(parents=True, exist_ok=True)
        KEY_CACHE.write_text(json.dumps(keys))
    return keys[:count]


def _seed(key_file: str) -> None:
    """(Inside the node's environment.) Create one cached remote Actor per key, with its
    public key, so the inbox resolves every sender without a fetch."""
    import django

    django.setup()
    from cryptography.hazmat.primitives import serialization
    from django.utils import timezone

    from federation.keys import load_private_key
    from federation.models import Actor

    rows = []
    for i, pem in enumerate(json.loads(Path(key_file).read_text())):
        public = (
            load_private_key(pem)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        base = sender_base(i)
        rows.append(
            Actor(
                ap_id=base,
                local=False,
                username=f"u{i}",
                domain=f"node-{i}.bench.test",
                inbox_url=f"{base}/inbox",
                shared_inbox_url=f"https://node-{i}.bench.test/inbox",
                followers_url=f"{base}/followers",
                public_key_id=f"{base}#main-key",
                public_key_pem=public,
                fetched_at=timezone.now(),
            )
        )
    Actor.objects.bulk_create(rows)


# ----------------------------------------------------------------------------- /proc


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all threads), from /proc."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(p) for p in (task / "children").read_text().split()]
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants still alive."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        if Path(f"/proc/{p}").exists():
            seen.append(p)
            todo += children(p)
    return seen


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """utime + stime of ``pid``; with ``reaped`` also the CPU of children it has waited for
    (so a recycled gunicorn worker's CPU is not lost)."""
    f = _stat(pid)
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if reaped else 0)
    return ticks / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process tree: the root with its reaped children, plus the live descendants."""
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(OSError, IndexError):
            total += cpu_seconds(p, reaped=p == pid)
    return total


def memory_kb(pid: int) -> dict[str, int]:
    """RSS and PSS (proportional: shared pages split between sharers) of one process, in KiB."""
    out = {"rss": 0, "pss": 0}
    with contextlib.suppress(OSError, IndexError):
        out["rss"] = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1])
    return out


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session (process group), output to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """Stop a process this bench started and its whole group: SIGTERM (after SIGCONT, in case
    it was paused), then SIGKILL after ``timeout``."""
    if proc is None:
        return
    for sig in (signal.SIGCONT, signal.SIGTERM):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # stragglers of the group
        os.killpg(proc.pid, signal.SIGKILL)


def wait_http(
    port: int, path: str = "/healthz", timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None
) -> None:
    """Wait until something answers HTTP on 127.0.0.1:``port`` (any status)."""
    import http.client

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered on port {port} within {timeout} s")


def wait_log(log: Path, needle: str, timeout: float, proc: subprocess.Popen[Any]) -> None:
    """Wait until ``needle`` appears in ``log``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}; see {log}")
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{needle!r} not in {log} within {timeout} s")


# ----------------------------------------------------------------------------- databases


def create_pg_database(name: str) -> str:
    """(Re)create PostgreSQL database ``name``; returns its URL."""
    drop_pg_database(name)
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(name: str) -> None:
    """Drop PostgreSQL database ``name`` if it exists (closing its sessions first)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def flush_redis(url: str) -> None:
    """Empty the one Redis DB of ``url`` (the bench's own DB number)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


# ----------------------------------------------------------------------------- the node


@dataclass
class BenchNode:
    """One node for a benchmark. ``variant`` is "pg" (PostgreSQL + Redis, production) or
    "sqlite" (the embedded default: SQLite, file-system broker, file cache)."""

    variant: str
    web_workers: int = 2
    var_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="redcloud-bench-")))
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    db_name: str = ""

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The node's environment: production-like (DEBUG off), loopback, private var dir."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "DATABASE_URL", "REDIS_URL"))}
        env = {
            **keep,
            "DJANGO_SETTINGS_MODULE": "node.settings",
            "PYTHONPATH": str(ROOT),
            "NODE_VAR_DIR": str(self.var_dir),
            "NODE_DOMAIN": self.domain,
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-" + "k" * 50,
            "FEDERATION_ALLOW_PRIVATE_ADDRESSES": "1",
            "PYTHONUNBUFFERED": "1",
        }
        if self.variant == "pg":
            env["DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.db_name}"
            env["REDIS_URL"] = BENCH_REDIS_URL
        return env

    def prepare(self, senders: int = SENDERS) -> None:
        """Create the database, run ``migrate`` fresh, and store the sender actors."""
        if self.variant == "pg":
            self.db_name = f"redcloud_bench_{os.getpid()}"
            create_pg_database(self.db_name)
            flush_redis(BENCH_REDIS_URL)
        env = self.env()
        py = sys.executable
        subprocess.run([py, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
        key_file = self.var_dir / "sender-keys.json"
        key_file.write_text(json.dumps(sender_keys(senders)))
        subprocess.run([py, "-m", "bench.servers", "seed", str(key_file)], cwd=ROOT, env=env, check=True, timeout=120)

    def start_web(self, name: str = "web", app: str = "node.wsgi", port: int | None = None, wait: bool = True) -> int:
        """gunicorn with deploy/gunicorn.conf.py (sync workers), ``web_workers`` workers; returns
        its port (with ``wait`` once it answers HTTP)."""
        port = port or (self.port if name == "web" else free_port())
        cmd = [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
        cmd += ["--workers", str(self.web_workers), "--bind", f"127.0.0.1:{port}", app]
        log = self.var_dir / f"{name}.log"
        self.procs[name] = start(cmd, self.env(), log)
        if wait:
            wait_http(port, timeout=60, proc=self.procs[name])
        return port

    @staticmethod
    def worker_command(concurrency: int = 8, include: tuple[str, ...] = ()) -> list[str]:
        """The county worker (deploy/systemd/redcloud-worker.service, Procfile.dev): one Celery
        process on every queue, threads pool, beat as a thread (``--beat-thread``); ``include``
        adds task modules (the bench's own no-op tasks)."""
        cmd = [str(VENV_BIN / "celery"), "-A", "node", "worker", "-P", "threads", "--concurrency", str(concurrency)]
        cmd += [arg for module in include for arg in ("--include", module)]
        return [*cmd, "-Q", ",".join(QUEUES), "--beat-thread", "--without-gossip", "--without-mingle", "-l", "INFO"]

    def start_worker(self, concurrency: int = 8, wait: bool = True, include: tuple[str, ...] = ()) -> None:
        """Start :meth:`worker_command` (with ``wait``: until it consumes and beat started)."""
        log = self.var_dir / "worker.log"
        self.procs["worker"] = start(self.worker_command(concurrency, include), self.env(), log)
        if wait:
            self.wait_worker()

    def wait_worker(self) -> None:
        """Wait until the worker consumes and its beat thread has started."""
        for needle in ("ready.", "beat: Starting"):
            wait_log(self.var_dir / "worker.log", needle, 60, self.procs["worker"])

    def start_node(self) -> int:
        """Start web (node.wsgi), the noop baseline server and the worker (with beat) together;
        wait for all of them; returns the noop server's port."""
        self.start_web(wait=False)
        noop_port = self.start_web("noop", "bench.noop", wait=False)
        self.start_worker(wait=False)
        wait_http(self.port, timeout=60, proc=self.procs["web"])
        wait_http(noop_port, timeout=60, proc=self.procs["noop"])
        self.wait_worker()
        return noop_port

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to the process group of ``name`` (used to pause the worker)."""
        os.killpg(self.procs[name].pid, sig)

    def memory(self, names: tuple[str, ...] = ("web", "worker")) -> dict[str, Any]:
        """RSS and PSS sums (MB) over the named process trees, with per-process detail."""
        detail: dict[str, list[dict[str, int]]] = {}
        rss = pss = 0
        for name in names:
            proc = self.procs.get(name)
            if proc is None:
                continue
            rows = []
            for pid in tree(proc.pid):
                m = memory_kb(pid)
                rows.append({"pid": pid, "rss_kb": m["rss"], "pss_kb": m["pss"]})
                rss, pss = rss + m["rss"], pss + m["pss"]
            detail[name] = rows
        return {"rss_mb": rss / 1024, "pss_mb": pss / 1024, "processes": detail}

    def sql(self, query: str) -> Any:
        """One scalar from the node's database (the bench's own connection)."""
        if self.variant == "pg":
            import psycopg

            with psycopg.connect(self.env()["DATABASE_URL"], autocommit=True) as conn:
                row = conn.execute(query).fetchone()
        else:
            import sqlite3

            conn = sqlite3.connect(self.var_dir / "db.sqlite3", timeout=30)
            try:
                row = conn.execute(query).fetchone()
            finally:
                conn.close()
        return row[0] if row else None

    def keep_worker_log(self, name: str) -> None:
        """Copy the worker's log to ``var/bench/<name>-worker.log`` before :meth:`close` removes
        the var dir (kept for profiling: where a benchmark's worker time goes)."""
        log = self.var_dir / "worker.log"
        if log.exists():
            (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
            (ROOT / "var" / "bench" / f"{name}-worker.log").write_bytes(log.read_bytes())

    def close(self) -> None:
        """Stop every process (each by its group), drop the database, remove the var dir."""
        for name in list(self.procs)[::-1]:
            stop(self.procs.pop(name))
        if self.variant == "pg" and self.db_name:
            with contextlib.suppress(Exception):
                drop_pg_database(self.db_name)
            with contextlib.suppress(Exception):
                flush_redis(BENCH_REDIS_URL)
        shutil.rmtree(self.var_dir, ignore_errors=True)

    def __enter__(self) -> BenchNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "seed":
        _seed(sys.argv[2])
    else:
        raise SystemExit("usage: python -m bench.servers seed KEYFILE")

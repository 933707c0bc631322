"""The nodes of a devnet: their description, their processes, and readiness checks.

A :class:`NodeHandle` runs ``manage.py`` with the node's env and starts its web and worker
processes, each in its own process group so it can be stopped by group id, never by name.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from node.config import ROLES

BASE_DIR = Path(__file__).resolve().parent.parent
PROCESS_KINDS = ("web", "worker")
DEFAULT_QUEUES = ("inbox", "deliver", "fanout", "media", "default")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
# Variables a child may inherit from the caller; everything else (DATABASE_URL, NODE_*, ...)
# comes from the node's own env so a test process's settings never leak into a node.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")


class DevnetError(RuntimeError):
    """The devnet could not be described or started; the message names the node and its log."""


@dataclass(frozen=True)
class NodeSpec:
    """One node of the network: ``name:role[:parent]``."""

    name: str
    role: str
    parent: str | None = None


def parse_nodes(spec: str) -> list[NodeSpec]:
    """Parse ``name:role[:parent],...``; a node without a parent hangs under the first province.

    Raises :class:`DevnetError` for a bad name or role, a duplicate, or an unknown parent.
    """
    raw: list[tuple[str, str, str | None]] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        fields = item.split(":")
        if len(fields) not in (2, 3):
            raise DevnetError(f"{item!r}: write name:role or name:role:parent")
        name, role = fields[0].strip(), fields[1].strip().lower()
        if not _NAME_RE.match(name):
            raise DevnetError(f"{name!r}: node names use a-z, 0-9 and '-' (at most 31 characters)")
        if role not in ROLES:
            raise DevnetError(f"{item!r}: role must be one of {', '.join(ROLES)}")
        raw.append((name, role, fields[2].strip() if len(fields) == 3 else None))
    names = [name for name, _, _ in raw]
    if not names:
        raise DevnetError("no nodes given")
    if len(set(names)) != len(names):
        raise DevnetError("node names must be unique")
    province = next((name for name, role, _ in raw if role == "province"), None)
    nodes = []
    for name, role, parent in raw:
        if role == "province":
            if parent:
                raise DevnetError(f"{name}: a province node has no parent")
        elif parent is None:
            parent = province
        elif parent not in names or parent == name:
            raise DevnetError(f"{name}: parent {parent!r} is not another node of the devnet")
        nodes.append(NodeSpec(name, role, parent))
    return nodes


def region_codes(specs: Sequence[NodeSpec]) -> dict[str, str]:
    """Distinct 6-digit codes shaped like real ones: provinces 530000, prefectures 530100, counties 530102."""
    next_code = {"province": 530000, "prefecture": 530100, "county": 530102}
    step = {"province": 10000, "prefecture": 100, "county": 1}
    codes: dict[str, str] = {}
    for spec in specs:
        code = next_code[spec.role]
        while f"{code:06d}" in codes.values() or (spec.role == "county" and code % 100 == 0):
            code += step[spec.role]
        next_code[spec.role] = code + step[spec.role]
        codes[spec.name] = f"{code % 1_000_000:06d}"
    return codes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: connections in TIME_WAIT from a previous run do not make a port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def group_pids(pgid: int) -> set[int]:
    """Live (non-zombie) processes whose process group is ``pgid`` (Linux ``/proc``)."""
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            found.add(int(entry.name))
    return found


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def get_healthz(base_url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of ``<base_url>/healthz``, or None when nothing answers (no proxy is used)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base_url}/healthz", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


class NodeHandle:
    """One running node: its env, its processes, and ``manage.py`` bound to it."""

    def __init__(
        self, spec: NodeSpec, *, port: int, parent_url: str, env: dict[str, str], var_dir: Path, env_file: Path
    ) -> None:
        self.name = spec.name
        self.role = spec.role
        self.parent = spec.parent
        self.parent_url = parent_url
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.env = env
        self.var_dir = var_dir
        self.env_file = env_file
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_offsets: dict[str, int] = {}
        self.python = sys.executable
        self.web_server = "gunicorn"
        self.queues: tuple[str, ...] = DEFAULT_QUEUES

    def __repr__(self) -> str:
        return f"<NodeHandle {self.name} {self.role} {self.base_url}>"

    def process_env(self) -> dict[str, str]:
        """The complete environment of this node's processes (nothing else leaks in)."""
        base = {key: os.environ[key] for key in _INHERITED if key in os.environ}
        return {**base, "PYTHONUNBUFFERED": "1", **self.env}

    def log_path(self, kind: str) -> Path:
        """Where the output of process ``kind`` (web, worker, bootstrap) goes."""
        return self.var_dir / f"{kind}.log"

    def manage(self, *args: str, check: bool = False, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run ``manage.py *args`` for this node and return its captured output.

        With ``check=True`` a non-zero exit raises :class:`DevnetError` carrying stderr.
        """
        result = subprocess.run(
            [self.python, str(BASE_DIR / "manage.py"), *args],
            cwd=BASE_DIR,
            env=self.process_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise DevnetError(f"{self.name}: manage.py {' '.join(args)} failed:\n{result.stderr.strip()}")
        return result

    def command(self, kind: str) -> list[str]:
        """The command line of process ``kind``."""
        if kind == "web":
            if self.web_server == "runserver":
                return [self.python, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
            return [
                self.python, "-m", "gunicorn", "node.wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--preload",
                "--timeout", "60", "--graceful-timeout", "5",
                "--access-logfile", "-", "--error-logfile", "-",
            ]  # fmt: skip
        if kind == "worker":
            return [
                # The county process model (deploy/systemd/redcloud-worker.service): one process,
                # a thread pool, beat as a thread of the worker (node/celery.py).
                self.python, "-m", "celery", "-A", "node", "worker", "-P", "threads", "--concurrency", "8",
                "-Q", ",".join(self.queues), "--beat-thread", "-n", f"{self.name}@devnet",
                "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            ]  # fmt: skip
        raise ValueError(f"unknown process kind {kind!r}; use one of {PROCESS_KINDS}")

    def start_process(self, kind: str) -> subprocess.Popen[bytes]:
        """Start process ``kind`` in its own process group (a no-op when it is running)."""
        current = self.processes.get(kind)
        if current is not None and current.poll() is None:
            return current
        log: IO[bytes] = open(self.log_path(kind), "ab")
        self._log_offsets[kind] = log.tell()
        try:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting {kind}: {' '.join(self.command(kind))}\n".encode())
            log.flush()
            process = subprocess.Popen(
                self.command(kind),
                cwd=BASE_DIR,
                env=self.process_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.processes[kind] = process
        return process

    def pids(self) -> set[int]:
        """Every live process of this node (process group members of each started process)."""
        found: set[int] = set()
        for process in self.processes.values():
            found |= group_pids(process.pid)
        return found

    def stop_process(self, kind: str, grace: float = 10.0) -> None:
        """Stop process ``kind`` and its children: SIGTERM to the leader, SIGKILL to its group after ``grace`` s."""
        process = self.processes.get(kind)
        if process is not None:
            stop_groups([process], grace)

    def stop(self, grace: float = 10.0) -> None:
        """Stop every process of this node."""
        stop_groups(list(self.processes.values()), grace)

    def worker_ready(self) -> bool:
        """True once the worker started last has logged that it consumes its queues."""
        if "worker" not in self.processes:
            return False
        try:
            with open(self.log_path("worker"), "rb") as log:
                log.seek(self._log_offsets.get("worker", 0))
                return f"{self.name}@devnet ready.".encode() in log.read()
        except OSError:
            return False

    def healthz(self, timeout: float = 2.0) -> int | None:
        """The status code of this node's ``/healthz`` (None when nothing answers)."""
        return get_healthz(self.base_url, timeout)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Return once ``/healthz`` answers 200 and a started worker is ready; else raise :class:`DevnetError`."""
        wait_all_ready([self], timeout)


def stop_groups(processes: Iterable[subprocess.Popen[bytes]], grace: float) -> None:
    """Stop each process and its process group; when this returns none of them is alive.

    SIGTERM goes to the leader (gunicorn master, celery main process), which shuts its own children
    down cleanly; orphans of a leader that already died get SIGTERM directly. Whatever is left of
    a group after ``grace`` seconds gets SIGKILL.
    """
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        else:
            _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        while time.monotonic() < deadline and (process.poll() is None or group_pids(process.pid)):
            time.sleep(0.05)
    for process in processes:
        # Sweep the whole group: children that outlived their leader go too.
        _signal_group(process.pid, signal.SIGKILL)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _is_ready(node: NodeHandle) -> bool:
    for kind, process in node.processes.items():
        if process.poll() is not None:
            raise DevnetError(
                f"node {node.name}: the {kind} process exited with code {process.returncode}; see {node.log_path(kind)}"
            )
    if "worker" in node.processes and not node.worker_ready():
        return False
    return "web" not in node.processes or node.healthz(timeout=2.0) == 200


def wait_all_ready(nodes: Sequence[NodeHandle], timeout: float) -> None:
    """Wait until every node's web answers ``/healthz`` 200 and its worker is consuming."""
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending:
        pending = [node for node in pending if not _is_ready(node)]
        if not pending:
            return
        if time.monotonic() > deadline:
            details = "; ".join(
                f"{node.name}: /healthz answered {node.healthz()}, worker ready: {node.worker_ready()} "
                f"(logs {node.log_path('web')}, {node.log_path('worker')})"
                for node in pending
            )
            raise DevnetError(f"not ready after {timeout:.0f}s: {details}")
        time.sleep(0.2)

"""A local network of Redcloud nodes, each a set of real processes on loopback.

Used by ``manage.py devnet`` and by the end-to-end test fixture. Every node gets its own
var folder (SQLite database, file-system broker, secret key) or, when asked, its own
PostgreSQL database and Redis database number, its own port and an env file describing it.
Processes run in their own process groups and are stopped by group id, never by name.

    with Devnet("province:province,county-a:county", directory=tmp) as net:
        net.nodes["county-a"].manage("member", "create", "alice", "--name", "Alice")
"""

from __future__ import annotations

import atexit
import json
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from node.devnet_node import (
    DEFAULT_QUEUES,
    PROCESS_KINDS,
    DevnetError,
    NodeHandle,
    NodeSpec,
    free_port,
    group_pids,
    parse_nodes,
    port_is_free,
    region_codes,
    stop_groups,
    wait_all_ready,
)
from node.envfile import write_env_file

__all__ = ["Devnet", "DevnetError", "NodeHandle", "NodeSpec", "group_pids", "parse_nodes"]

_MARKER = ".devnet"


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class Devnet:
    """Several nodes on loopback; ``start()`` brings them up, ``stop()`` stops every process started.

    ``database_url``: a PostgreSQL server URL (its ``postgres`` database is fine); each node gets
    a database ``redcloud_devnet_[<label>_]<name>`` there, dropped and recreated at start (``label``
    keeps parallel test runs apart). ``redis_url``:
    each node uses its own Redis database number, counting up from the URL's, flushed at start.
    Without them every node uses SQLite and the file-system broker in its var folder.
    ``extra_env`` goes to every node, ``node_env`` (by node name) to one node, after it.
    """

    def __init__(
        self,
        nodes: str | Sequence[NodeSpec],
        *,
        directory: Path | str,
        base_port: int | None = None,
        database_url: str | None = None,
        redis_url: str | None = None,
        web_server: str = "gunicorn",
        extra_env: Mapping[str, str] | None = None,
        node_env: Mapping[str, Mapping[str, str]] | None = None,
        startup_timeout: float = 90.0,
        label: str = "",
        grace: float = 10.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.specs = parse_nodes(nodes) if isinstance(nodes, str) else list(nodes)
        self.directory = Path(directory).resolve()
        self.base_port = base_port
        self.database_url = database_url or None
        self.label = label
        self.redis_url = redis_url or None
        self.web_server = web_server
        self.extra_env = dict(extra_env or {})
        self.node_env = {name: dict(env) for name, env in (node_env or {}).items()}
        self.startup_timeout = startup_timeout
        self.grace = grace
        self.log = log or (lambda message: None)
        self.nodes: dict[str, NodeHandle] = {}
        self.started_in: float | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Devnet:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- preparation ----------------------------------------------------------------------------
    def _ports(self) -> list[int]:
        if self.base_port is None:
            ports: list[int] = []
            while len(ports) < len(self.specs):
                port = free_port()
                if port not in ports:
                    ports.append(port)
            return ports
        ports = [self.base_port + index for index in range(len(self.specs))]
        busy = [port for port in ports if not port_is_free(port)]
        if busy:
            raise DevnetError(f"port(s) {', '.join(map(str, busy))} on 127.0.0.1 are in use; pick another --base-port")
        return ports

    def _fresh_var_dir(self, path: Path) -> None:
        if path.exists():
            if not (path / _MARKER).exists() and any(path.iterdir()):
                raise DevnetError(f"{path} exists and was not made by devnet; choose another --dir")
            shutil.rmtree(path)
        path.mkdir(parents=True)
        (path / _MARKER).write_text("made by manage.py devnet; deleted at the next start\n")

    def _database_url_for(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        assert self.database_url is not None
        database = "_".join(("redcloud_devnet", *([self.label] if self.label else []), name)).replace("-", "_")
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return _with_path(self.database_url, f"/{database}")

    def _redis_url_for(self, index: int) -> str:
        import redis

        assert self.redis_url is not None
        first = int(urlsplit(self.redis_url).path.strip("/") or 0)
        number = first + index
        if number > 15:
            raise DevnetError(f"Redis database {number} is beyond the default 16; start DEVNET_REDIS_URL lower")
        url = _with_path(self.redis_url, f"/{number}")
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()
        return url

    def prepare(self) -> None:
        """Create var folders, databases, env files and ``nodes.json``; start nothing."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ports = dict(zip((spec.name for spec in self.specs), self._ports(), strict=True))
        codes = region_codes(self.specs)
        manifest = []
        for index, spec in enumerate(self.specs):
            var_dir = self.directory / spec.name
            self._fresh_var_dir(var_dir)
            parent_url = f"http://127.0.0.1:{ports[spec.parent]}" if spec.parent else ""
            env = {
                "NODE_DOMAIN": f"127.0.0.1:{ports[spec.name]}",
                "NODE_NAME": f"Devnet {spec.name}",
                "NODE_ROLE": spec.role,
                "NODE_REGION_CODE": codes[spec.name],
                "NODE_PARENT": parent_url,
                "NODE_VAR_DIR": str(var_dir),
                "NODE_DEVNET": "1",
                "FEDERATION_ALLOW_PRIVATE_ADDRESSES": "1",
            }
            if self.database_url:
                env["DATABASE_URL"] = self._database_url_for(spec.name)
            if self.redis_url:
                env["REDIS_URL"] = self._redis_url_for(index)
            env.update(self.extra_env)
            env.update(self.node_env.get(spec.name, {}))
            env = {key: value for key, value in env.items() if value != ""}
            env_file = self.directory / f"{spec.name}.env"
            write_env_file(env_file, env, header=f"devnet node {spec.name}: NODE_ENV_FILE={env_file} manage.py ...")
            node = NodeHandle(
                spec, port=ports[spec.name], parent_url=parent_url, env=env, var_dir=var_dir, env_file=env_file
            )
            node.web_server = self.web_server
            node.queues = _queues()
            self.nodes[spec.name] = node
            manifest.append(
                {
                    "name": spec.name,
                    "role": spec.role,
                    "parent": spec.parent,
                    "base_url": node.base_url,
                    "port": node.port,
                    "env_file": str(env_file),
                    "var_dir": str(var_dir),
                }
            )
        (self.directory / "nodes.json").write_text(json.dumps(manifest, indent=2) + "\n")

    def _bootstrap(self, node: NodeHandle) -> None:
        with open(node.log_path("bootstrap"), "a", encoding="utf-8") as log:
            for args in (("migrate", "--noinput", "-v", "0"), ("node", "firstrun")):
                result = node.manage(*args)
                log.write(f"=== manage.py {' '.join(args)} (exit {result.returncode})\n{result.stdout}{result.stderr}")
                if result.returncode != 0:
                    raise DevnetError(
                        f"node {node.name}: manage.py {' '.join(args)} failed; see {node.log_path('bootstrap')}"
                    )

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Prepare, migrate and first-run every node (in parallel), start web and worker, wait for health.

        On any failure everything started so far is stopped and :class:`DevnetError` is raised.
        """
        began = time.monotonic()
        atexit.register(self.stop)  # an interpreter exit without stop() must not leave nodes behind
        try:
            self.prepare()
            self.log(f"bootstrapping {len(self.nodes)} nodes in {self.directory}")
            with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
                for future in [pool.submit(self._bootstrap, node) for node in self.nodes.values()]:
                    future.result()
            for node in self.nodes.values():
                for kind in PROCESS_KINDS:
                    node.start_process(kind)
            self.log("waiting for /healthz")
            wait_all_ready(list(self.nodes.values()), self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def pids(self) -> set[int]:
        """Every live process this devnet started."""
        return set().union(*(node.pids() for node in self.nodes.values())) if self.nodes else set()

    def watch(self, stop_requested: threading.Event, report: Callable[[str], None]) -> None:
        """Block until ``stop_requested`` is set, reporting (once each) processes that exit meanwhile."""
        reported: set[tuple[str, str]] = set()
        while not stop_requested.wait(1.0):
            for node in self.nodes.values():
                for kind, process in node.processes.items():
                    if process.poll() is not None and (node.name, kind) not in reported:
                        reported.add((node.name, kind))
                        report(f"{node.name} {kind} exited with code {process.returncode}; see {node.log_path(kind)}")

    def stop(self) -> None:
        """Stop every process of every node: SIGTERM to each group leader, then SIGKILL to whatever is
        left of each process group after the grace period. Safe to call more than once."""
        with self._lock:
            processes = [process for node in self.nodes.values() for process in node.processes.values()]
            stop_groups(processes, self.grace)


def _queues() -> tuple[str, ...]:
    try:
        from django.conf import settings

        return tuple(settings.NODE_QUEUES)
    except Exception:  # used without configured Django settings
        return DEFAULT_QUEUES

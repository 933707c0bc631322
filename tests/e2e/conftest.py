"""The ``devnet`` fixture: province, county-a and county-b as real processes on loopback.

Nodes get a clean environment (see :mod:`node.devnet`): the pytest process's DATABASE_URL,
REDIS_URL or NODE_* never leak into them. ``DEVNET_DATABASE_URL`` (a PostgreSQL server) and
``DEVNET_REDIS_URL`` (a Redis server) switch the nodes to PostgreSQL and Redis, as in CI.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from node.devnet import Devnet

E2E_NODES = "province:province,county-a:county,county-b:county"


def _worker_index(worker_id: str) -> int:
    """0 without xdist, n for xdist worker ``gwn``."""
    match = re.fullmatch(r"gw(\d+)", worker_id)
    return int(match.group(1)) if match else 0


def devnet_backends(worker_id: str, nodes: int) -> dict[str, str | None]:
    """PostgreSQL/Redis settings for a devnet of ``nodes`` nodes, apart from other xdist workers."""
    index = _worker_index(worker_id)
    redis_url = os.environ.get("DEVNET_REDIS_URL") or None
    if redis_url:
        parts = urlsplit(redis_url)
        first = int(parts.path.strip("/") or 0) + index * nodes
        redis_url = urlunsplit((parts.scheme, parts.netloc, f"/{first}", parts.query, ""))
    return {
        "database_url": os.environ.get("DEVNET_DATABASE_URL") or None,
        "redis_url": redis_url,
        "label": f"e2e{index}",  # never the names a hand-started `manage.py devnet` uses
    }


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Devnet]:
    """A running three-node devnet (province, county-a, county-b), stopped at the end of the session."""
    net = Devnet(
        E2E_NODES,
        directory=tmp_path_factory.mktemp("devnet"),
        startup_timeout=90,
        **devnet_backends(worker_id, 3),
    )
    net.start()
    try:
        yield net
    finally:
        net.stop()

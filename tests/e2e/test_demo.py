"""Smoke test of ``make federation-demo``: ``manage.py devnet_demo --once`` brings up its six
nodes, aggregates every county's posts and statistics at the province, prints where to look,
and stops everything it started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.devnet_node import BASE_DIR, port_is_free

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(
    bool(os.environ.get("DEVNET_DATABASE_URL")),
    reason="the demo always runs on the embedded default (SQLite, file broker): the embedded leg of the suite runs it",
)
def test_federation_demo_aggregates_and_stops_cleanly(tmp_path: Path):
    """The demo reports the province ready with every county post aggregated and totals, then stops its nodes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVNET_", "NODE_", "DATABASE_URL", "REDIS_URL"))}
    env["NODE_VAR_DIR"] = str(tmp_path / "var")  # the command's own settings: never the developer's var/
    result = subprocess.run(
        [sys.executable, "manage.py", "devnet_demo", "--once", "--base-port", "0", "--dir", str(tmp_path / "demo")],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Federation demo ready" in out and "Not yet on the province timeline" not in out
    assert "Province totals: " in out and "云南省" in out and "古城区" in out
    totals = out.split("Province totals: ", 1)[1].split(" members", 1)[0]
    assert int(totals) >= 12  # three counties of four sample members, at least
    assert "Stopped in" in out
    manifest = json.loads((tmp_path / "demo" / "nodes.json").read_text())
    assert len(manifest) == 6
    assert all(port_is_free(node["port"]) for node in manifest)  # every web server it started is gone

"""The devnet itself: nodes come up as separate processes, are isolated, and stop cleanly."""

from __future__ import annotations

import json
import urllib.request

import pytest

from node.devnet import Devnet, group_pids
from node.envfile import parse_env_file

pytestmark = pytest.mark.e2e


def _get_json(url: str) -> tuple[int, dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_devnet_nodes_answer_healthz_when_started(devnet):
    """Every node's /healthz answers 200 with database and broker ok, within a minute of start."""
    assert set(devnet.nodes) == {"province", "county-a", "county-b"}
    assert devnet.started_in is not None and devnet.started_in < 60, f"start took {devnet.started_in:.1f}s"
    for node in devnet.nodes.values():
        status, body = _get_json(f"{node.base_url}/healthz")
        assert status == 200
        assert body["status"] == "ok" and body["database"]["ok"] and body["broker"]["ok"]


def test_devnet_writes_manifest_and_env_files_when_started(devnet):
    """nodes.json lists every node and each env file describes that node, its parent and its own var dir."""
    manifest = json.loads((devnet.directory / "nodes.json").read_text())
    by_name = {row["name"]: row for row in manifest}
    assert set(by_name) == {"province", "county-a", "county-b"}
    province = devnet.nodes["province"]
    codes = set()
    for name, node in devnet.nodes.items():
        row = by_name[name]
        assert row["base_url"] == node.base_url == f"http://127.0.0.1:{row['port']}"
        env = parse_env_file(node.env_file)
        assert row["env_file"] == str(node.env_file) and row["var_dir"] == env["NODE_VAR_DIR"]
        assert env["NODE_DOMAIN"] == f"127.0.0.1:{row['port']}"
        assert env["NODE_DEVNET"] == "1" and env["FEDERATION_ALLOW_PRIVATE_ADDRESSES"] == "1"
        assert env["NODE_ROLE"] == row["role"]
        codes.add(env["NODE_REGION_CODE"])
        if name == "province":
            assert row["parent"] is None and "NODE_PARENT" not in env
        else:
            assert row["parent"] == "province" and env["NODE_PARENT"] == province.base_url
    assert len(codes) == 3 and all(len(code) == 6 and code.isdigit() for code in codes)


def test_devnet_node_status_reports_its_own_identity(devnet):
    """`node status --json` run for a node reports that node's domain, role and parent."""
    node = devnet.nodes["county-b"]
    result = node.manage("node", "status", "--json", check=True)
    report = json.loads(result.stdout)
    assert report["node"]["domain"] == f"127.0.0.1:{node.port}"
    assert report["node"]["role"] == "county" and report["node"]["devnet"] is True
    assert report["node"]["parent"] == devnet.nodes["province"].base_url
    assert report["database"]["ok"] and report["broker"]["ok"]


def test_devnet_member_exists_only_on_its_node_when_created_there(devnet):
    """A member created on county-a is listed there and on no other node (separate databases)."""
    county_a = devnet.nodes["county-a"]
    county_a.manage("member", "create", "isolation_check", "--name", "Isolation", check=True)

    def usernames(name: str) -> set[str]:
        result = devnet.nodes[name].manage("member", "list", "--json", check=True)
        return {row["username"] for row in json.loads(result.stdout)}

    assert "isolation_check" in usernames("county-a")
    assert "isolation_check" not in usernames("county-b")
    assert "isolation_check" not in usernames("province")


def test_devnet_stop_leaves_no_process_running(tmp_path):
    """Stopping one process stops its whole group, it can be restarted, and stop() leaves nothing alive.

    Uses its own one-node devnet on the embedded default (process control does not depend on the backends).
    """
    net = Devnet("solo:province", directory=tmp_path / "net", startup_timeout=90)
    net.start()
    try:
        node = net.nodes["solo"]
        worker_pids = group_pids(node.processes["worker"].pid)
        assert len(worker_pids) == 1  # one celery process: threads pool, beat as a thread
        node.stop_process("worker")
        assert not any(group_pids(node.processes["worker"].pid) & worker_pids)
        assert node.healthz() == 200  # the web process is untouched
        node.start_process("worker")
        node.wait_healthy(timeout=60)
        all_pids = net.pids()
        assert len(all_pids) >= 4  # gunicorn master + 2 workers, the celery worker
    finally:
        net.stop()
    still_running = {pid for pid in all_pids if _alive(pid)}
    assert not still_running, f"processes left running: {still_running}"
    assert net.pids() == set()
    assert node.healthz(timeout=1) is None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")

"""The federation demo (``make federation-demo``, ``manage.py devnet_demo``): a province hub, two
prefectures and three counties on loopback, joined into one hierarchy, filled with sample data
(:mod:`node.demo`), and watched until the province has aggregated it.

Everything happens through the nodes' own commands and HTTP, as an operator would do it:
``node join-hub`` (approved automatically on a devnet), ``devnet_sample``, ``member create``,
``node report``; the province's ``/api/v1/hub/timeline`` and ``/api/v1/hub/stats`` say when the
aggregation is complete.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from node.demo import PASSWORD
from node.devnet import Devnet, DevnetError, NodeHandle
from node.devnet_node import NodeSpec

DEMO_NODES = (
    "yunnan:province,kunming:prefecture:yunnan,lijiang:prefecture:yunnan,"
    "wuhua:county:kunming,panlong:county:kunming,gucheng:county:lijiang"
)
NAMES = {
    "yunnan": "云南省",
    "kunming": "昆明市",
    "lijiang": "丽江市",
    "wuhua": "五华区",
    "panlong": "盘龙区",
    "gucheng": "古城区",
}
REGION_CODES = {
    "yunnan": "530000",
    "kunming": "530100",
    "lijiang": "530700",
    "wuhua": "530102",
    "panlong": "530103",
    "gucheng": "530702",
}
OPERATOR = "operator"
PARALLEL = 3  # manage.py runs at once (the machine may have two cores)


@dataclass
class DemoState:
    """What the demo set up: each county's sample (see :class:`node.demo.Sample`), the operators'
    API tokens, and how long the province took to aggregate everything."""

    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    aggregated_in: float | None = None
    missing: list[str] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)  # the province's report total


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy


def get_json(url: str, timeout: float = 10) -> tuple[int, Any]:
    """GET ``url`` as JSON: (status, parsed body or None); (0, None) when nothing answers."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 -- http only
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def node_env(specs: Iterable[NodeSpec]) -> dict[str, dict[str, str]]:
    """Each demo node's display name (its place name in Chinese) and its real region code."""
    out: dict[str, dict[str, str]] = {}
    for spec in specs:
        out[spec.name] = {"NODE_NAME": NAMES.get(spec.name, spec.name)}
        if spec.name in REGION_CODES:
            out[spec.name]["NODE_REGION_CODE"] = REGION_CODES[spec.name]
    return out


def _depth(net: Devnet, node: NodeHandle) -> int:
    depth, parent = 0, node.parent
    while parent:
        depth, parent = depth + 1, net.nodes[parent].parent
    return depth


def levels(net: Devnet) -> list[list[NodeHandle]]:
    """The nodes by depth below the province: ``[[province], [prefectures], [counties]]``."""
    out: dict[int, list[NodeHandle]] = {}
    for node in net.nodes.values():
        out.setdefault(_depth(net, node), []).append(node)
    return [out[d] for d in sorted(out)]


def _each(nodes: list[NodeHandle], fn: Callable[[NodeHandle], Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(fn, nodes))


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(1.0)
    raise DevnetError(f"timed out after {timeout:.0f}s waiting for {what}")


def join_hierarchy(net: Devnet, *, timeout: float = 60.0) -> None:
    """Every node below the province runs ``node join-hub`` (its NODE_PARENT), top level first,
    and is waited for until its parent accepted it."""

    def join(node: NodeHandle) -> None:
        node.manage("node", "join-hub", check=True)
        _wait(
            lambda: "accepted" in node.manage("node", "hub-list", check=True).stdout,
            timeout,
            f"{node.name} to be accepted by {node.parent}",
        )

    for level in levels(net)[1:]:
        _each(level, join)


def operator_password(node: NodeHandle) -> str:
    """The password ``node firstrun`` gave the node's ``operator`` (``<var>/operator-password.txt``)."""
    path = node.var_dir / "operator-password.txt"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("password:")), "")


def operator_tokens(net: Devnet) -> dict[str, str]:
    """An API token for every node's ``operator`` (the account ``node firstrun`` created)."""

    def token(node: NodeHandle) -> str:
        return node.manage("member", "token", OPERATOR, check=True).stdout.strip().splitlines()[-1]

    nodes = list(net.nodes.values())
    return dict(zip((n.name for n in nodes), _each(nodes, token), strict=True))


def load_samples(net: Devnet) -> dict[str, dict[str, Any]]:
    """``devnet_sample`` on every county (each with other people); returns each county's sample."""
    counties = levels(net)[-1]

    def load(node: NodeHandle) -> dict[str, Any]:
        offset = 4 * counties.index(node)
        out = node.manage(
            "devnet_sample", "--place", NAMES.get(node.name, node.name), "--offset", str(offset), "--json", check=True
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    return dict(zip((n.name for n in counties), _each(counties, load), strict=True))


def _stats_rows(node: NodeHandle) -> dict[str, Any]:
    status, body = get_json(f"{node.base_url}/api/v1/hub/stats")
    return {row["domain"]: row for row in body.get("nodes", [])} if status == 200 and body else {}


def send_reports(net: Devnet, *, timeout: float = 60.0) -> None:
    """Statistics reports from the bottom up: counties first; each parent reports once every
    child's report has arrived, so the province's totals include everybody at once."""
    for level in reversed(levels(net)):
        _each(level, lambda node: node.manage("node", "report", check=True))
        for node in level:
            if node.parent:
                parent, domain = net.nodes[node.parent], node.base_url.split("://", 1)[1]
                _wait(lambda p=parent, d=domain: d in _stats_rows(p), timeout, f"{node.name}'s report at {node.parent}")


def public_ids(sample: dict[str, Any]) -> list[str]:
    """The public post-like objects of a county sample (posts, the group post, the poll)."""
    return [*sample["public_posts"], sample["group_post"], sample["poll"]]


def province_timeline(province: NodeHandle) -> set[str]:
    """Uris on the province-wide timeline."""
    status, body = get_json(f"{province.base_url}/api/v1/hub/timeline?limit=40")
    return {s["uri"] for s in body} if status == 200 and isinstance(body, list) else set()


def wait_aggregated(net: Devnet, samples: dict[str, dict[str, Any]], *, timeout: float = 120.0) -> list[str]:
    """Wait until every county's public posts are on the province's timeline; returns what is
    still missing when ``timeout`` runs out (empty: all there)."""
    province = levels(net)[0][0]
    wanted = {i for sample in samples.values() for i in public_ids(sample)}
    deadline = time.monotonic() + timeout
    missing = wanted - province_timeline(province)
    while missing and time.monotonic() < deadline:
        time.sleep(1.0)
        missing = wanted - province_timeline(province)
    return sorted(missing)


def run_demo(net: Devnet, log: Callable[[str], None], *, timeout: float = 120.0) -> DemoState:
    """Set up the demo on a started devnet: hierarchy, operators, sample data, reports, then wait
    (at most ``timeout`` s) for the province to aggregate it."""
    state = DemoState()
    began = time.monotonic()
    log("joining the hierarchy (node join-hub)...")
    join_hierarchy(net)
    log("loading sample data...")
    state.tokens = operator_tokens(net)
    state.samples = load_samples(net)
    log("waiting for the province to aggregate the counties' public posts...")
    state.missing = wait_aggregated(net, state.samples, timeout=timeout)
    log("sending statistics reports up the hierarchy...")
    send_reports(net)
    status, body = get_json(f"{levels(net)[0][0].base_url}/api/v1/hub/stats")
    state.totals = body["report"]["redcloud:total"] if status == 200 and body else {}
    state.aggregated_in = time.monotonic() - began
    return state


def summary(net: Devnet, state: DemoState) -> list[str]:
    """What to print for the visitor: where to look, and how to log in."""
    province = levels(net)[0][0]
    base = province.base_url
    lines = [
        f"Province hub {NAMES.get(province.name, province.name)}: {base}",
        f"  statistics dashboard   {base}/hub/",
        f"  province-wide timeline {base}/hub/timeline",
        f"  nodes (list and tree)  {base}/hub/nodes",
        f"  groups, events         {base}/hub/groups   {base}/hub/events",
        f"  search (Chinese)       {base}/hub/search?q=志愿服务",
        f"  statistics as CSV      {base}/hub/stats.csv",
        "Nodes:",
    ]
    for node in net.nodes.values():
        lines.append(
            f"  {NAMES.get(node.name, node.name):<4} {node.name:<8} {node.role:<10} {node.base_url:<24} "
            f"parent={node.parent or '-'}  env={node.env_file}"
        )
    lines.append(f"Operators (login {OPERATOR}; /admin/, /operator/federation), password and API token:")
    lines += [
        f"  {name:<8} {operator_password(node) or '(see ' + str(node.var_dir) + '/operator-password.txt)'}  "
        f"Bearer {state.tokens.get(name, '')}"
        for name, node in net.nodes.items()
    ]
    for name, sample in state.samples.items():
        lines.append(f"Members of {name} (password {PASSWORD}): {', '.join(sample['members'])}")
    if state.totals:
        t = state.totals
        lines.append(
            f"Province totals: {t['members']['total']} members, {sum(t['groups'].values())} groups, "
            f"{t['posts']} posts, {t['votes']} votes, meetings {sum(t['meetings'].values())}, "
            f"dues paid in full {t['dues']['compliance']}%"
        )
    if state.missing:
        lines.append(f"Not yet on the province timeline: {len(state.missing)} post(s); they may still arrive.")
    return lines

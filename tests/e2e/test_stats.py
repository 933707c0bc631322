"""End to end: county nodes report their statistics to the province hub over real HTTP; the
province's totals equal its own counts plus the counties' own counts."""

from __future__ import annotations

import json

import pytest
from django.db.migrations.loader import MigrationLoader

from node.stats import add_counts
from tests.e2e.helpers import get_json, wait_until


def _migrations_exist() -> bool:
    """The devnet nodes migrate their databases: the hub's tables need their migrations."""
    models = MigrationLoader(None, ignore_no_migrations=True).project_state().models
    return ("node", "statsreport") in models and ("node", "noderelation") in models


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not _migrations_exist(), reason="node migrations for the hub models not generated yet"),
]


def _report(node) -> dict:
    result = node.manage("node", "report", "--json", check=True)
    return json.loads(result.stdout)


def _province_rows(province) -> dict[str, dict]:
    status, body = get_json(f"{province.base_url}/api/v1/hub/stats", accept="application/json")
    return {row["domain"]: row["counts"] for row in body["nodes"]} if status == 200 else {}


def test_province_totals_equal_sum_of_county_counts(devnet):
    """After ``node join-hub`` and ``node report`` on each county, the province's total is its own
    counts plus each county's own counts, and both counties show as healthy children."""
    province, a, b = devnet.nodes["province"], devnet.nodes["county-a"], devnet.nodes["county-b"]
    a.manage("member", "create", "stata1", "--random-password", check=True)
    a.manage("member", "create", "stata2", "--random-password", check=True)
    b.manage("member", "create", "statb1", "--random-password", check=True)
    counties = [a, b]
    domains = {c.name: c.base_url.split("://", 1)[1] for c in counties}
    for county in counties:
        county.manage("node", "join-hub", check=True)

    def children_listed() -> bool:
        status, nodes = get_json(f"{province.base_url}/api/v1/hub/nodes", accept="application/json")
        return status == 200 and set(domains.values()) <= {n["domain"] for n in nodes}

    wait_until(children_listed, timeout=60, what="both counties accepted as children of the province")
    own = {}
    for county in counties:
        report = _report(county)
        own[county.name] = report["redcloud:own"]
        assert report["redcloud:total"] == report["redcloud:own"]  # a county has no children

    def arrived() -> bool:
        rows = _province_rows(province)
        return all(rows.get(domains[c.name]) == own[c.name] for c in counties)

    wait_until(arrived, timeout=60, what="both county reports stored at the province")
    hub_report = _report(province)
    expected = add_counts(add_counts(hub_report["redcloud:own"], own["county-a"]), own["county-b"])
    assert hub_report["redcloud:total"] == expected
    assert expected["members"]["total"] >= 3
    assert {c["domain"] for c in hub_report["redcloud:children"]} == set(domains.values())
    _status, nodes = get_json(f"{province.base_url}/api/v1/hub/nodes", accept="application/json")
    assert all(n["healthy"] for n in nodes if n["domain"] in domains.values())

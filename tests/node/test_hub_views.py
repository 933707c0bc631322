"""The hub's pages and API (node/hub_views.py, node/hub_directory.py, node/charts.py)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from federation.models import ActorType
from groups.models import Event, Group
from microblog import services
from node import stats
from node.charts import bar_chart
from node.models import NodeRelation, RelationDirection, RelationState
from tests.node.test_stats import report_activity

pytestmark = pytest.mark.django_db


@pytest.fixture
def province(make_local_member, make_remote_actor):
    """A hub with one local member's Chinese post, a local group, a public event and a child
    county whose report arrived, plus a remote Group actor."""
    alice = make_local_member("alice")
    services.create_post(alice, text="县里今天召开党员大会")
    group_actor = make_local_member("branch1")
    group = Group.objects.create(actor=group_actor, kind="branch", description="第一支部")
    Event.objects.create(
        group=group,
        group_actor=group_actor,
        ap_id="http://127.0.0.1:8000/objects/e1",
        name="学习会",
        start_at=timezone.now() + timedelta(days=1),
    )
    county, _pem = make_remote_actor("instance.actor", domain="county-a.example", type=ActorType.APPLICATION)
    rel = NodeRelation.objects.create(
        actor=county,
        direction=RelationDirection.CHILD,
        state=RelationState.ACCEPTED,
        domain=county.domain,
        since=timezone.now(),
        node_name="County A",
    )
    stats.handle_report(report_activity(county, members=4, posts=6), county)
    make_remote_actor("party", domain="county-a.example", type=ActorType.GROUP, name="县委支部")
    return {"alice": alice, "county": county, "relation": rel}


@pytest.mark.parametrize(
    "path", ["/hub/", "/hub/nodes", "/hub/groups", "/hub/events", "/hub/timeline", "/hub/search?q=党员"]
)
def test_hub_pages_render(client, province, path):
    """Every hub page answers 200 with HTML for an anonymous visitor."""
    response = client.get(path)
    assert response.status_code == 200
    assert b"</html>" in response.content


def test_dashboard_shows_svg_charts_with_node_names(client, province):
    """The dashboard carries inline SVG charts naming the child node, and no script."""
    html = client.get("/hub/").content.decode()
    assert html.count("<svg") >= 4
    assert "County A" in html
    assert '<script src="http' not in html


def test_csv_export_parses_with_one_row_per_node_and_scope(client, province):
    """The CSV has a header, and own/total rows for this node (live) and the child's report."""
    response = client.get("/hub/stats.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    domains = {(r["domain"], r["scope"]) for r in rows}
    assert ("county-a.example", "own") in domains and ("127.0.0.1:8000", "total") in domains
    mine = next(r for r in rows if r["domain"] == "127.0.0.1:8000" and r["scope"] == "total")
    own = next(r for r in rows if r["domain"] == "127.0.0.1:8000" and r["scope"] == "own")
    assert int(mine["members_total"]) == int(own["members_total"]) + 4


def test_nodes_api_lists_child_with_health_and_version(client, province):
    """``/api/v1/hub/nodes`` lists this node and the child with role, version, members and health."""
    nodes = client.get("/api/v1/hub/nodes").json()
    child = next(n for n in nodes if n["domain"] == "county-a.example")
    assert child["name"] == "County A" and child["version"] == "0.1.0" and child["members"] == 4
    assert child["healthy"] is True and child["last_seen_at"]
    assert nodes[0]["self"] is True


def test_tree_api_has_child_under_root(client, province):
    """The tree's root is this node with the child below it."""
    tree = client.get("/api/v1/hub/nodes/tree").json()
    assert [c["domain"] for c in tree["children"]] == ["county-a.example"]


def test_stats_api_total_is_own_plus_child(client, province):
    """The stats API's total members = own + the child's reported total."""
    report = client.get("/api/v1/hub/stats").json()["report"]
    assert report["redcloud:total"]["members"]["total"] == report["redcloud:own"]["members"]["total"] + 4


def test_groups_api_lists_local_and_remote_groups(client, province):
    """Local groups and remote Group actors both appear; a Chinese query finds the remote one."""
    names = {g["handle"] for g in client.get("/api/v1/hub/groups").json()}
    assert {"branch1@127.0.0.1:8000", "party@county-a.example"} <= names
    found = client.get("/api/v1/hub/groups", {"q": "县委"}).json()
    assert [g["handle"] for g in found] == ["party@county-a.example"]


def test_events_api_lists_public_events(client, province):
    """Public upcoming events are listed."""
    assert [e["name"] for e in client.get("/api/v1/hub/events").json()] == ["学习会"]


def test_timeline_filter_by_domain(client, province, make_remote_actor):
    """The node filter keeps only posts from that node; unfiltered shows everything public."""
    bob, _ = make_remote_actor("bob", domain="county-a.example")
    from microblog.models import Post

    Post.objects.create(
        ap_id="https://county-a.example/notes/1",
        author=bob,
        local=False,
        content="<p>远程</p>",
        visibility="public",
        published_at=timezone.now(),
    )
    every = client.get("/api/v1/hub/timeline").json()
    only = client.get("/api/v1/hub/timeline", {"domain": "county-a.example"}).json()
    assert len(every) == 2
    assert [s["account"]["acct"] for s in only] == ["bob@county-a.example"]


def test_search_api_finds_chinese_posts_and_groups(client, province):
    """Search matches Chinese substrings in public posts and groups."""
    found = client.get("/api/v1/hub/search", {"q": "党员"}).json()
    assert len(found["statuses"]) == 1 and "党员" in found["statuses"][0]["content"]
    assert client.get("/api/v1/hub/search", {"q": "支部"}).json()["groups"]


def test_unhealthy_child_is_shown_with_since(client, province):
    """A silent child shows as unhealthy with a date on the nodes page."""
    from node.models import StatsReport

    StatsReport.objects.update(received_at=timezone.now() - timedelta(days=5))
    NodeRelation.objects.update(last_seen_at=None, since=timezone.now() - timedelta(days=5))
    html = client.get("/hub/nodes").content.decode()
    assert "unhealthy" in html or "异常" in html


def test_bar_chart_escapes_labels():
    """Chart labels are escaped."""
    svg = bar_chart([("<b>x</b>", 3)], title="t")
    assert "<b>" not in svg and "&lt;b&gt;" in svg

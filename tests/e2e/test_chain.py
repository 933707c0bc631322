"""Issue 6 acceptance on a four-node chain: province → prefecture → county-a, county-b.

Real processes (``node.devnet``), apart from the shared devnet: own label and Redis databases,
``FEDERATION_TIME_SCALE=0.01`` so delivery retries play out in seconds (1 min → 0.6 s, 15 min
→ 9 s, 1 h → 36 s; a statistics period is 14.4 min, so health here comes from deliveries), and
``NODE_HUB_REBROADCAST=1`` so the prefecture passes the counties' public posts to each other
(the traffic that lets it notice a county that went away). The counties are filled with the
demo's sample data (``manage.py devnet_sample``: :mod:`node.demo`). The tests run in order and
build on each other; the last one stops and restarts county-a.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest

from node.devnet import Devnet
from node.stats import add_counts
from tests.e2e.conftest import devnet_backends
from tests.e2e.helpers import get_json, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHAIN = "province:province,prefecture:prefecture:province,county-a:county:prefecture,county-b:county:prefecture"
PLACES = {"county-a": ("五华区", 0), "county-b": ("盘龙区", 4)}
STATE: dict[str, Any] = {}


def shell_json(node: Any, script: str) -> Any:
    """Run ``script`` in ``node``'s ``manage.py shell``; it prints one JSON value last."""
    out = node.manage("shell", "-c", script, check=True).stdout.strip().splitlines()
    return json.loads(out[-1])


def host(node: Any) -> str:
    """``127.0.0.1:port``: the node's domain."""
    return node.base_url.split("://", 1)[1]


def join(node: Any) -> None:
    """``node join-hub`` (NODE_PARENT) twice, which is harmless, then wait for the accepted relation."""
    for _ in range(2):
        node.manage("node", "join-hub", check=True)
    wait_until(
        lambda: "accepted" in node.manage("node", "hub-list", check=True).stdout,
        timeout=60,
        interval=1,
        what=f"{node.name} accepted by its parent",
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, Any]]:
    """The running chain, joined up, with each county's sample data (``STATE[name]``)."""
    backends = devnet_backends(worker_id, 4)
    if backends["redis_url"]:  # clear of the shared devnet (n..n+2) and faultnet (n+6..n+7)
        base, _, number = backends["redis_url"].rpartition("/")
        backends["redis_url"] = f"{base}/{int(number) + 9}"
    backends["label"] = f"c{backends['label']}"
    net = Devnet(
        CHAIN,
        directory=tmp_path_factory.mktemp("chainnet"),
        extra_env={"FEDERATION_TIME_SCALE": "0.01", "FEDERATION_DELIVERY_TIMEOUT": "20", "NODE_HUB_REBROADCAST": "1"},
        startup_timeout=120,
        **backends,
    )
    net.start()
    try:
        nodes = net.nodes
        join(nodes["prefecture"])
        for name in PLACES:
            join(nodes[name])
        for name, (place, offset) in PLACES.items():
            out = nodes[name].manage("devnet_sample", "--place", place, "--offset", str(offset), "--json", check=True)
            STATE[name] = json.loads(out.stdout.strip().splitlines()[-1])
        yield {"net": net, **nodes}
    finally:
        net.stop()


def relayed_state(node: Any, ids: list[str]) -> dict[str, Any]:
    """How ``node`` stores the objects ``ids``: posts and their timeline entries, events,
    shared courses, poll voters; and its private records (which must stay at zero on a hub)."""
    script = f"""
import json
from groups.models import DuesRecord, Event, Meeting
from learning.models import SharedCourse
from microblog.models import Poll, Post
ids = {ids!r}
posts = Post.objects.filter(ap_id__in=ids)
print(json.dumps({{
    "posts": {{p.ap_id: Post.objects.filter(ap_id=p.ap_id).count() for p in posts}},
    "reblogs": Post.objects.filter(reblog_of__ap_id__in=ids).count(),
    "events": list(Event.objects.filter(ap_id__in=ids).values_list("ap_id", flat=True)),
    "courses": list(SharedCourse.objects.filter(ap_id__in=ids).values_list("ap_id", flat=True)),
    "voters": {{p.post.ap_id: p.voters_count for p in Poll.objects.filter(post__ap_id__in=ids)}},
    "meetings": Meeting.objects.count(),
    "dues": DuesRecord.objects.count(),
    "contents": list(Post.objects.filter(local=False).values_list("content", flat=True)),
}}))
"""
    return shell_json(node, script)


def public_ids(sample: dict[str, Any]) -> list[str]:
    """Every public post-like object of a county sample (posts, the group post, the poll)."""
    return [*sample["public_posts"], sample["group_post"], sample["poll"]]


def timeline_uris(node: Any) -> list[str]:
    """Uris of the statuses on ``node``'s province-wide timeline (``/api/v1/hub/timeline``)."""
    status, body = get_json(f"{node.base_url}/api/v1/hub/timeline?limit=40", accept="application/json")
    assert status == 200, status
    return [s["uri"] for s in body] + [s["reblog"]["uri"] for s in body if s.get("reblog")]


def test_public_posts_reach_prefecture_and_province_exactly_once(chain):
    """Each county's public posts, group post and poll are on the prefecture's and the province's
    timelines exactly once (members' Create and the group's Announce relay as one object)."""
    wanted = [i for name in PLACES for i in public_ids(STATE[name])]
    for hub_name in ("prefecture", "province"):
        hub = chain[hub_name]
        wait_until(
            lambda: set(wanted) <= set(timeline_uris(hub)),  # noqa: B023
            timeout=90,
            interval=1,
            what=f"every county public post on the {hub_name} timeline",
        )
    time.sleep(2)  # room for a duplicate, if one wrongly came
    for hub_name in ("prefecture", "province"):
        uris = timeline_uris(chain[hub_name])
        assert all(uris.count(i) == 1 for i in wanted), {i: uris.count(i) for i in wanted}
        state = relayed_state(chain[hub_name], wanted)
        assert state["posts"] == {i: 1 for i in wanted} and state["reblogs"] == 0


def test_private_content_and_group_records_never_reach_a_hub(chain):
    """Followers-only posts, members-only branch posts, meeting minutes and dues stay on the county."""
    private = [STATE[n][k] for n in PLACES for k in ("followers_only", "members_only")]
    markers = [m for n in PLACES for m in STATE[n]["secret_markers"]]
    for hub_name in ("prefecture", "province"):
        state = relayed_state(chain[hub_name], private)
        assert state["posts"] == {}, state["posts"]
        assert state["meetings"] == 0 and state["dues"] == 0
        assert not [c for c in state["contents"] for m in markers if m in c]
        url = f"{chain[hub_name].base_url}/api/v1/hub/search?q={quote('仅关注者')}"
        status, found = get_json(url, accept="application/json")
        assert status == 200 and found["statuses"] == []


def test_events_courses_and_poll_results_reach_province_through_prefecture(chain):
    """Group events and course publications of both counties are stored at the prefecture and
    passed on to the province; the poll's vote count travels with it."""
    events = [STATE[n]["event"] for n in PLACES]
    courses = [STATE[n]["course"] for n in PLACES]
    polls = [STATE[n]["poll"] for n in PLACES]
    for hub_name in ("prefecture", "province"):
        hub = chain[hub_name]

        def arrived(hub: Any = hub) -> dict[str, Any] | None:
            state = relayed_state(hub, events + courses + polls)
            done = sorted(state["events"]) == sorted(events) and sorted(state["courses"]) == sorted(courses)
            return state if done and all(state["voters"].get(p) == 1 for p in polls) else None

        try:
            wait_until(arrived, timeout=90, interval=2, what=f"events, courses and poll results on the {hub_name}")
        except AssertionError as error:  # say what was missing
            raise AssertionError(
                f"{error}\nexpected events {events}, courses {courses}, polls {polls}\n"
                f"found {relayed_state(hub, events + courses + polls)}"
            ) from None
    status, listed = get_json(f"{chain['province'].base_url}/api/v1/hub/events", accept="application/json")
    assert status == 200 and set(events) <= {e["id"] for e in listed}


def _report(node: Any) -> dict[str, Any]:
    return json.loads(node.manage("node", "report", "--json", check=True).stdout)


def _rows(node: Any) -> dict[str, dict[str, Any]]:
    status, body = get_json(f"{node.base_url}/api/v1/hub/stats", accept="application/json")
    assert status == 200, status
    return {row["domain"]: row for row in body["nodes"]}


def test_province_totals_equal_the_sum_of_every_nodes_own_counts(chain):
    """Counties report to the prefecture, the prefecture (with their totals) to the province: the
    province's total is the sum of the four nodes' own counts, meetings and dues included."""
    own = {name: _report(chain[name])["redcloud:own"] for name in PLACES}
    pref = chain["prefecture"]
    wait_until(
        lambda: all(_rows(pref).get(host(chain[n]), {}).get("counts") == own[n] for n in PLACES),
        timeout=60,
        interval=1,
        what="both county reports at the prefecture",
    )
    pref_report = _report(pref)
    assert pref_report["redcloud:total"] == add_counts(
        add_counts(pref_report["redcloud:own"], own["county-a"]), own["county-b"]
    )
    province = chain["province"]

    def pref_stored() -> bool:
        status, body = get_json(f"{province.base_url}/api/v1/hub/nodes/tree", accept="application/json")
        child = next((c for c in body["children"] if c["domain"] == host(pref)), None) if status == 200 else None
        return bool(child) and {g["domain"] for g in child["children"]} == {host(chain[n]) for n in PLACES}

    wait_until(pref_stored, timeout=60, interval=1, what="the prefecture's report (with its counties) at the province")
    top = _report(province)
    expected = add_counts(
        add_counts(add_counts(top["redcloud:own"], pref_report["redcloud:own"]), own["county-a"]), own["county-b"]
    )
    assert top["redcloud:total"] == expected
    counties = add_counts(own["county-a"], own["county-b"])
    assert counties["members"]["total"] >= 8 and counties["meetings"] == {"member_assembly": 2}
    assert counties["dues"]["memberMonths"] == 8 and counties["learningCredits"] >= 0
    assert top["redcloud:total"]["members"]["total"] >= counties["members"]["total"]


def _health(parent: Any, child: Any) -> dict[str, Any] | None:
    status, nodes = get_json(f"{parent.base_url}/api/v1/hub/nodes", accept="application/json")
    return next((n for n in nodes if n["domain"] == host(child)), None) if status == 200 else None


def test_stopped_county_unhealthy_at_prefecture_then_recovers_losing_nothing(chain):
    """Scenario: county-a's web and worker are stopped for a while. Meanwhile county-b posts (the
    prefecture's re-broadcast to county-a fails) and a post is written on county-a itself (queued
    in its database, its worker being down). The prefecture shows county-a unhealthy with a
    since-time; after restart it is healthy again by itself, county-a has county-b's post and
    the province has county-a's queued post, each exactly once."""
    a, b, pref, province = chain["county-a"], chain["county-b"], chain["prefecture"], chain["province"]
    stopped_at = datetime.now().astimezone()
    a.stop_process("web", grace=5)
    a.stop_process("worker", grace=5)
    writer = "from microblog.services import create_post\nfrom federation.models import Actor\nimport json\n"
    from_b = shell_json(
        b,
        writer + f"a = Actor.objects.get(username={STATE['county-b']['members'][0]!r}, local=True)\n"
        "print(json.dumps(create_post(a, text='盘龙区 停电期间发布 outage-b', visibility='public').ap_id))",
    )
    queued_a = shell_json(
        a,
        writer + f"a = Actor.objects.get(username={STATE['county-a']['members'][1]!r}, local=True)\n"
        "print(json.dumps(create_post(a, text='五华区 离线时写下 queued-a', visibility='public').ap_id))",
    )
    down = wait_until(
        lambda: (h := _health(pref, a)) and not h["healthy"] and h,
        timeout=60,
        interval=1,
        what="county-a marked unhealthy at the prefecture",
    )
    assert "deliveries failing" in down["reasons"] and down["since"]
    assert stopped_at.timestamp() - 5 <= datetime.fromisoformat(down["since"]).timestamp() <= time.time()
    assert _health(pref, b)["healthy"]
    a.start_process("web")
    a.start_process("worker")
    a.wait_healthy(timeout=60)
    wait_until(
        lambda: (h := _health(pref, a)) and h["healthy"],
        timeout=120,
        interval=1,
        what="county-a healthy again at the prefecture",
    )
    wait_until(
        lambda: queued_a in timeline_uris(province),
        timeout=60,
        interval=1,
        what="county-a's queued post at the province",
    )
    wait_until(
        lambda: relayed_state(a, [from_b])["posts"] == {from_b: 1},
        timeout=60,
        interval=2,
        what="county-b's post re-broadcast to county-a after its restart",
    )
    time.sleep(2)
    assert timeline_uris(province).count(queued_a) == 1
    assert relayed_state(province, [queued_a, from_b])["posts"] == {queued_a: 1, from_b: 1}

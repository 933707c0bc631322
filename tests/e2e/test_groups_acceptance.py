"""Issue 5 acceptance on the three-node devnet, driven through the CLI and the client API.

A members-only branch lives on county-a (secretary alice_g, member carol_g); bob_g@county-b and
dave_g@province join by following it and are approved with ``group approve``. The scenario runs
in order (each test builds on the previous one, so run the module as a whole): group posts
travel through the group's ``Announce``, a group poll is voted on from every node, an event gets
RSVPs from two nodes and an iCalendar file, and bob moves to a county-b branch. Other nodes'
databases are only read, through ``manage.py shell``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from icalendar import Calendar

from tests.e2e.helpers import actor_id, collection_items, handle, wait_until

pytestmark = pytest.mark.e2e

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STATE: dict[str, Any] = {}


def api(node: Any, token: str | None, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    """Call the client API of ``node``; returns (status, parsed JSON or raw text)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(f"{node.base_url}{path}", data=data, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=20) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def ok(node: Any, token: str | None, method: str, path: str, body: dict | None = None) -> Any:
    """``api`` that must answer 2xx."""
    status, data = api(node, token, method, path, body)
    assert 200 <= status < 300, f"{node.name} {method} {path} -> {status}: {data}"
    return data


def shell_json(node: Any, script: str) -> Any:
    """Run a read-only ``script`` on ``node`` that prints one JSON value last."""
    out = node.manage("shell", "-c", script, check=True).stdout.strip().splitlines()
    return json.loads(out[-1])


def member(node: Any, username: str) -> str:
    """Create ``username`` on ``node``; return its bearer token."""
    node.manage("member", "create", username, "--name", username.split("_")[0].title(), "--random-password", check=True)
    return node.manage("member", "token", username, check=True).stdout.strip().splitlines()[-1]


def group_post_on(node: Any, ap_id: str) -> dict[str, Any] | None:
    """How ``node`` stores the post ``ap_id``: its author and the groups carrying it (or None)."""
    script = (
        "import json\nfrom microblog.models import Post\n"
        f"p = Post.objects.filter(ap_id={ap_id!r}).select_related('author').first()\n"
        "print(json.dumps(None if p is None else {'author': p.author.ap_id, 'visibility': p.visibility,"
        " 'groups': sorted(p.group_entries.values_list('group_actor__ap_id', flat=True))}))"
    )
    return shell_json(node, script)


@pytest.fixture(scope="module")
def net(devnet) -> dict[str, Any]:
    """Nodes, members and tokens of the scenario (created once for the module)."""
    if STATE:
        return STATE
    a, b, p = devnet.nodes["county-a"], devnet.nodes["county-b"], devnet.nodes["province"]
    STATE.update(a=a, b=b, p=p)
    for key, node, name in (
        ("alice", a, "alice_g"),
        ("carol", a, "carol_g"),
        ("frank", a, "frank_g"),
        ("bob", b, "bob_g"),
        ("eve", b, "eve_g"),
        ("bsec", b, "bsec_g"),
        ("dave", p, "dave_g"),
    ):
        STATE[key] = member(node, name)
    return STATE


def test_branch_members_join_from_three_nodes(net):
    """bob@county-b and dave@province ask to join the county-a branch, carol asks through the API;
    each stays pending until the secretary approves with `group approve`, then all are active."""
    a, b, p = net["a"], net["b"], net["p"]
    created = a.manage(
        "group", "create", "branch_g", "--name", "Branch G", "--kind", "branch", "--secretary", "alice_g"
    )
    assert created.returncode == 0, created.stderr
    group_id = ok(a, net["alice"], "GET", "/api/v1/groups?q=branch_g")[0]["id"]
    net["group_id"], net["group"] = group_id, actor_id(a, "branch_g")
    group_handle = handle(a, "branch_g")

    b.manage("federation", "follow", "bob_g", group_handle, check=True)
    p.manage("federation", "follow", "dave_g", group_handle, check=True)
    joined = ok(a, net["carol"], "POST", f"/api/v1/groups/{group_id}/join")
    assert joined["membership"]["state"] == "pending"

    bob_acct, dave_acct = handle(b, "bob_g"), handle(p, "dave_g")
    wait_until(
        lambda: all(
            x in a.manage("group", "members", "branch_g", "--pending", check=True).stdout for x in (bob_acct, dave_acct)
        ),
        what="bob's and dave's requests to reach county-a",
    )
    assert ok(a, net["alice"], "GET", f"/api/v1/groups/{group_id}")["member_count"] == 1
    status, _ = api(a, net["carol"], "POST", f"/api/v1/groups/{group_id}/requests/1/approve")
    assert status == 403  # a pending member cannot approve anyone
    for acct in (bob_acct, dave_acct, "carol_g"):
        approved = a.manage("group", "approve", "branch_g", acct)
        assert approved.returncode == 0, approved.stderr

    members = a.manage("group", "members", "branch_g", check=True).stdout
    for acct in (bob_acct, dave_acct, handle(a, "carol_g"), handle(a, "alice_g")):
        assert f"{acct}\t" in members and "\tactive" in members.split(acct, 1)[1].splitlines()[0]
    group = net["group"]
    for node, user in ((b, "bob_g"), (p, "dave_g")):
        who = actor_id(node, user)
        wait_until(lambda who=who: group in collection_items(f"{who}/following"), what=f"Accept to reach {node.name}")
    listed = ok(a, net["alice"], "GET", f"/api/v1/groups/{group_id}/members")
    assert len(listed) == 4
    net["bob_account_on_a"] = next(m["account"]["id"] for m in listed if m["account"]["acct"] == bob_acct)


def _mention_post(node: Any, token: str, text: str, visibility: str = "direct") -> str:
    """Post ``text`` (mentioning the group) from a Mastodon client; returns its ActivityPub id."""
    return ok(node, token, "POST", "/api/v1/statuses", {"status": text, "visibility": visibility})["uri"]


def test_member_post_reaches_members_on_every_node_and_non_member_post_does_not(net):
    """A non-member's post to the group is not carried; bob's members-only group post (written
    from a Mastodon client as ``@group``) is announced by the group and reaches carol on county-a
    (group timeline) and dave on the province (stored as carried by the group)."""
    a, b, p = net["a"], net["b"], net["p"]
    mention = "@" + handle(a, "branch_g")
    spam = _mention_post(b, net["eve"], f"{mention} let me in, non-member spam")
    hello = _mention_post(b, net["bob"], f"{mention} hello branch from county-b")
    group_id = net["group_id"]

    def carol_sees() -> bool:
        timeline = ok(a, net["carol"], "GET", f"/api/v1/groups/{group_id}/statuses")
        return hello in [s["uri"] for s in timeline]

    wait_until(carol_sees, timeout=60, what="bob's post in carol's group timeline")
    stored = wait_until(
        lambda: (group_post_on(p, hello) or {}).get("groups"), timeout=60, what="the Announce at province"
    )
    assert stored == [net["group"]]
    assert group_post_on(p, hello)["author"] == actor_id(b, "bob_g")

    # eve's post reached county-a before bob's (same sender, same queue) and was never carried.
    timeline = ok(a, net["carol"], "GET", f"/api/v1/groups/{group_id}/statuses")
    assert spam not in [s["uri"] for s in timeline]
    on_a = group_post_on(a, spam)
    assert on_a is None or on_a["groups"] == []
    assert group_post_on(p, spam) is None
    status, public_view = api(a, None, "GET", f"/api/v1/groups/{group_id}/statuses")
    assert status == 200 and hello not in [s["uri"] for s in public_view]  # members-only content stays inside
    net["hello"] = hello


def _home_boost(node: Any, token: str, uri: str) -> dict[str, Any] | None:
    """The group's boost of ``uri`` in the home timeline of ``token``'s member on ``node``."""
    for item in ok(node, token, "GET", "/api/v1/timelines/home"):
        if (item.get("reblog") or {}).get("uri") == uri:
            return item
    return None


def test_group_post_in_members_home_timelines_and_likes_announced(net):
    """bob's members-only group post shows in carol's (county-a) and dave's (province) home
    timelines as the group's boost, dave can open it and the remote group timeline, frank (a
    non-member) can't; dave's and carol's likes travel through the group to every node."""
    a, p = net["a"], net["p"]
    hello, group_id = net["hello"], net["group_id"]
    carol_home = wait_until(lambda: _home_boost(a, net["carol"], hello), what="bob's post in carol's home")
    assert carol_home["account"]["acct"] == "branch_g"
    dave_home = wait_until(lambda: _home_boost(p, net["dave"], hello), what="bob's post in dave's home")
    post_p = dave_home["reblog"]["id"]
    assert ok(p, net["dave"], "GET", f"/api/v1/statuses/{post_p}")["uri"] == hello
    group_account_p = dave_home["account"]["id"]
    remote_timeline = ok(p, net["dave"], "GET", f"/api/v1/groups/account/{group_account_p}/statuses")
    assert hello in [s["uri"] for s in remote_timeline]
    frank_home = ok(a, net["frank"], "GET", "/api/v1/timelines/home")
    assert hello not in [(s.get("reblog") or {}).get("uri") for s in frank_home]
    carol_copy = next(s for s in ok(a, net["carol"], "GET", f"/api/v1/groups/{group_id}/statuses") if s["uri"] == hello)
    assert api(a, net["frank"], "GET", f"/api/v1/statuses/{carol_copy['id']}")[0] == 404

    ok(p, net["dave"], "POST", f"/api/v1/statuses/{post_p}/favourite")

    def likes_on(node: Any, token: str, post_id: str) -> int:
        return ok(node, token, "GET", f"/api/v1/statuses/{post_id}")["favourites_count"]

    wait_until(lambda: likes_on(a, net["carol"], carol_copy["id"]) == 1, what="dave's like counted by the group")
    ok(a, net["carol"], "POST", f"/api/v1/statuses/{carol_copy['id']}/favourite")
    wait_until(lambda: likes_on(p, net["dave"], post_p) == 2, what="carol's like announced to the province")


def _local_poll_id(node: Any, question_id: str) -> str:
    script = (
        "import json\nfrom microblog.models import Poll\n"
        f"p = Poll.objects.filter(post__ap_id={question_id!r}).first()\nprint(json.dumps(p and str(p.pk)))"
    )
    return shell_json(node, script)


def test_group_poll_counts_one_vote_per_member_across_nodes(net):
    """Every member votes once from their own node; a second vote and a non-member's vote are
    refused; after closing, the results are the same on county-a, county-b and the province."""
    a, b, p = net["a"], net["b"], net["p"]
    group_id = net["group_id"]
    status, _ = api(
        a,
        net["carol"],
        "POST",
        f"/api/v1/groups/{group_id}/statuses",
        {"status": "Carol's poll?", "poll": {"options": ["x", "y"], "expires_in": 3600}},
    )
    assert status == 403  # a plain member may not open polls
    created = ok(
        a,
        net["alice"],
        "POST",
        f"/api/v1/groups/{group_id}/statuses",
        {"status": "Which day for the assembly?", "poll": {"options": ["Monday", "Friday"], "expires_in": 3600}},
    )
    question, poll_a = created["uri"], created["poll"]["id"]
    poll_b = wait_until(lambda: _local_poll_id(b, question), what="the poll at county-b")
    poll_p = wait_until(lambda: _local_poll_id(p, question), what="the poll at province")

    ok(a, net["alice"], "POST", f"/api/v1/polls/{poll_a}/votes", {"choices": [0]})
    ok(a, net["carol"], "POST", f"/api/v1/polls/{poll_a}/votes", {"choices": [1]})
    ok(b, net["bob"], "POST", f"/api/v1/polls/{poll_b}/votes", {"choices": [1]})
    ok(p, net["dave"], "POST", f"/api/v1/polls/{poll_p}/votes", {"choices": [1]})

    status, _ = api(b, net["bob"], "POST", f"/api/v1/polls/{poll_b}/votes", {"choices": [0]})
    assert status == 422  # second vote
    status, _ = api(a, net["frank"], "POST", f"/api/v1/polls/{poll_a}/votes", {"choices": [0]})
    assert status in (404, 422)  # non-member: the poll is not even visible to him

    def totals_on_a() -> list[int]:
        return [o["votes_count"] for o in ok(a, net["alice"], "GET", f"/api/v1/polls/{poll_a}")["options"]]

    wait_until(lambda: totals_on_a() == [1, 3], what="all four votes counted at county-a")
    result = ok(a, net["alice"], "GET", f"/api/v1/groups/{group_id}/polls/{poll_a}")
    assert result["voters"] == 4 and result["members"] == 4
    assert sorted(b["account"] for b in result["ballots"]) == sorted(
        [handle(a, "alice_g"), handle(a, "carol_g"), handle(b, "bob_g"), handle(p, "dave_g")]
    )

    a.manage(
        "shell",
        "-c",
        f"from microblog.models import Poll\nfrom microblog.polls import close_poll\nclose_poll(Poll.objects.get(pk={poll_a}))",
        check=True,
    )
    final = ok(a, net["alice"], "GET", f"/api/v1/polls/{poll_a}")
    assert final["expired"] is True and [o["votes_count"] for o in final["options"]] == [1, 3]

    def closed(node: Any, token: str, poll_id: str) -> Any:
        data = ok(node, token, "GET", f"/api/v1/polls/{poll_id}")
        return data["expired"] and [o["votes_count"] for o in data["options"]] == [1, 3] and data

    assert wait_until(lambda: closed(b, net["bob"], poll_b), what="closed results at county-b")["votes_count"] == 4
    assert wait_until(lambda: closed(p, net["dave"], poll_p), what="closed results at province")["votes_count"] == 4


def _local_event_id(node: Any, event_ap_id: str) -> str | None:
    script = (
        "import json\nfrom groups.models import Event\n"
        f"e = Event.objects.filter(ap_id={event_ap_id!r}).first()\nprint(json.dumps(e and str(e.pk)))"
    )
    return shell_json(node, script)


def test_event_rsvps_from_two_nodes_and_ical_export(net):
    """An event of the branch gets RSVPs from county-b and the province (accepted at county-a)
    and its iCalendar file parses with the icalendar package."""
    a, b, p = net["a"], net["b"], net["p"]
    group_id = net["group_id"]
    event = ok(
        a,
        net["alice"],
        "POST",
        f"/api/v1/groups/{group_id}/events",
        {
            "name": "Member assembly",
            "content": "Agenda: dues, the new branch.",
            "start_at": "2031-03-01T19:00:00+08:00",
            "end_at": "2031-03-01T21:00:00+08:00",
            "timezone": "Asia/Shanghai",
            "location_name": "Village hall",
            "locality": "Jinghong",
            "visibility": "public",
        },
    )
    event_b = wait_until(lambda: _local_event_id(b, event["uri"]), what="the event at county-b")
    event_p = wait_until(lambda: _local_event_id(p, event["uri"]), what="the event at province")
    ok(b, net["bob"], "POST", f"/api/v1/events/{event_b}/join")
    ok(p, net["dave"], "POST", f"/api/v1/events/{event_p}/join")

    def rsvps() -> dict[str, str]:
        rows = ok(a, net["alice"], "GET", f"/api/v1/events/{event['id']}/participants")
        return {r["acct"]: r["state"] for r in rows}

    want = {handle(b, "bob_g"), handle(p, "dave_g")}
    got = wait_until(lambda: want <= set(rsvps()) and rsvps(), what="both RSVPs at county-a")
    assert all(got[acct] in ("accepted", "participant") for acct in want), got
    assert ok(b, net["bob"], "GET", f"/api/v1/events/{event_b}")["participation"] is not None

    request = urllib.request.Request(f"{a.base_url}/groups/branch_g/events/{event['id']}.ics")
    with _OPENER.open(request, timeout=20) as response:
        assert response.headers["Content-Type"].startswith("text/calendar")
        body = response.read()
    vevents = list(Calendar.from_ical(body).walk("VEVENT"))
    assert len(vevents) == 1 and str(vevents[0]["SUMMARY"]) == "Member assembly"
    assert vevents[0].decoded("DTSTART").isoformat().startswith("2031-03-01T19:00:00")
    assert "Village hall" in str(vevents[0]["LOCATION"])


def test_transfer_moves_bob_to_county_b_branch_with_history(net):
    """County-a's secretary asks to move bob to a county-b branch and approves; county-b's
    secretary accepts; bob ends active in exactly one branch on both nodes, with his join date
    and history carried over."""
    a, b = net["a"], net["b"]
    created = b.manage(
        "group", "create", "branchb_g", "--name", "Branch B", "--kind", "branch", "--secretary", "bsec_g"
    )
    assert created.returncode == 0, created.stderr
    group_b = ok(b, net["bsec"], "GET", "/api/v1/groups?q=branchb_g")[0]["id"]

    transfer = ok(
        a,
        net["alice"],
        "POST",
        f"/api/v1/groups/{net['group_id']}/transfers",
        {"account_id": net["bob_account_on_a"], "target": handle(b, "branchb_g"), "reason": "moved to county-b"},
    )
    offered = ok(a, net["alice"], "POST", f"/api/v1/transfers/{transfer['id']}/approve")
    assert offered["state"] == "offered"

    def incoming() -> list[dict]:
        return ok(b, net["bsec"], "GET", f"/api/v1/groups/{group_b}/transfers")

    rows = wait_until(incoming, what="the Offer at county-b")
    ok(b, net["bsec"], "POST", f"/api/v1/transfers/{rows[0]['id']}/accept")

    bob_acct = handle(b, "bob_g")
    wait_until(
        lambda: f"{bob_acct}\t" not in a.manage("group", "members", "branch_g", check=True).stdout,
        what="county-a to mark bob transferred out",
    )
    script = (
        "import json\nfrom groups.models import Membership\n"
        "rows = Membership.objects.filter(actor__username='bob_g').select_related('group__actor')\n"
        "print(json.dumps({m.group.actor.username: {'state': m.state, 'joined': m.joined_at.isoformat() if m.joined_at"
        " else None, 'events': [h['event'] for h in m.history]} for m in rows}))"
    )
    on_a, on_b = shell_json(a, script), shell_json(b, script)
    assert on_a["branch_g"]["state"] == "transferred_out"
    assert on_a["branch_g"]["events"][:2] == ["requested", "approved"]
    assert on_b["branchb_g"]["state"] == "active"
    assert on_b["branchb_g"]["joined"] == on_a["branch_g"]["joined"]  # join date carried over
    assert {"requested", "approved", "transferred_in"} <= set(on_b["branchb_g"]["events"])
    assert [g for g, m in on_a.items() if m["state"] == "active"] == []
    assert [g for g, m in on_b.items() if m["state"] == "active"] == ["branchb_g"]
    members_b = b.manage("group", "members", "branchb_g", check=True).stdout
    assert f"{bob_acct}\tmember\tactive" in members_b
    bob = actor_id(b, "bob_g")
    wait_until(
        lambda: net["group"] not in collection_items(f"{bob}/following"), what="county-b to drop bob's follow of X"
    )
    assert bob not in collection_items(f"{net['group']}/followers")
    mine = ok(b, net["bob"], "GET", "/api/v1/transfers")
    assert [t["state"] for t in mine] == ["accepted"]

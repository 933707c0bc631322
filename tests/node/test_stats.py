"""Statistics reports (node/stats.py) and child health (node/hub_health.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from federation.models import ActorType, Delivery, Domain, InboxItem, InboxItemState, OutboxActivity
from groups.models import DuesRecord, Event, Group, Meeting
from microblog import services
from microblog.models import Poll, PollOption, PollVote
from node import stats
from node.hub_health import health_of, silence_limit
from node.models import NodeRelation, RelationDirection, RelationState, StatsDirection, StatsReport
from tests.federation.test_inbox import signed_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def county_data(make_local_member, make_remote_actor):
    """Two members (one active), a branch group, two posts (one deleted), a vote, a meeting, dues."""
    alice = make_local_member("alice")
    bob = make_local_member("bob")
    alice.user.last_login = timezone.now()
    alice.user.save(update_fields=["last_login"])
    group_actor = make_local_member("branch1")  # any local actor will do as the group's identity
    group = Group.objects.create(actor=group_actor, kind="branch")
    services.create_post(alice, text="第一条 public post")
    gone = services.create_post(bob, text="to delete")
    services.delete_post(bob, gone)
    poll_post = services.create_post(bob, text="a poll")
    poll = Poll.objects.create(post=poll_post, expires_at=timezone.now() + timedelta(days=1))
    option = PollOption.objects.create(poll=poll, title="yes", position=0)
    PollVote.objects.create(poll=poll, option=option, voter=alice)
    Meeting.objects.create(group=group, kind="member_assembly", held_on=timezone.localdate())
    DuesRecord.objects.create(group=group, actor=alice, month="2024-01", amount_due=Decimal(5), amount_paid=Decimal(5))
    DuesRecord.objects.create(group=group, actor=bob, month="2024-01", amount_due=Decimal(5), amount_paid=Decimal(2))
    now = timezone.now()
    Event.objects.create(
        group=group,
        group_actor=group_actor,
        ap_id="http://127.0.0.1:8000/objects/e1",
        name="学习会",
        start_at=now - timedelta(hours=2),
        end_at=now - timedelta(hours=1),
    )
    return {"alice": alice, "bob": bob, "group": group}


@pytest.fixture
def child(fake_server, make_remote_actor):
    """county.example's instance actor (on the fake server), an accepted child of this node."""
    actor, pem = make_remote_actor(
        "instance.actor", domain=fake_server.netloc, scheme="http", type=ActorType.APPLICATION
    )
    rel = NodeRelation.objects.create(
        actor=actor,
        direction=RelationDirection.CHILD,
        state=RelationState.ACCEPTED,
        domain=actor.domain,
        since=timezone.now(),
    )
    return actor, pem, rel


def _counts(members=1, posts=1, kind="branch"):
    c = stats.empty_counts()
    c["members"] = {"total": members, "active": 0}
    c["posts"] = posts
    c["groups"] = {kind: 1}
    c["dues"] = {"memberMonths": 4, "paidInFull": 2, "compliance": 50.0}
    return c


def report_activity(actor, *, members=3, posts=7, period=None, n=1):
    period = (period or timezone.localdate()).isoformat()
    obj_id = f"{actor.ap_id.rsplit('/users/', 1)[0]}/hub/stats/{period}"
    return {
        "@context": stats.CONTEXT,
        "id": f"{obj_id}/activities/{n}",
        "type": "Create",
        "actor": actor.ap_id,
        "published": timezone.now().isoformat(),
        "object": {
            "id": obj_id,
            "type": stats.REPORT_TYPE,
            "redcloud:period": period,
            "redcloud:node": {
                "domain": actor.domain,
                "name": "County A",
                "role": "county",
                "regionCode": "530102",
                "software": {"name": "redcloud", "version": "0.1.0"},
            },
            "redcloud:own": _counts(members, posts),
            "redcloud:total": _counts(members, posts),
            "redcloud:children": [],
        },
    }


def test_own_counts_match_fixture_data(county_data):
    """Own counts: members and active, groups by kind, live posts, votes, events, meetings, dues %."""
    counts = stats.own_counts(timezone.localdate())
    assert counts["members"] == {"total": 3, "active": 1}  # alice, bob, branch1's stand-in member
    assert counts["groups"] == {"branch": 1}
    assert counts["posts"] == 2  # the deleted post is not counted
    assert counts["votes"] == 1
    assert counts["eventsHeld"] == 1
    assert counts["meetings"] == {"member_assembly": 1}
    assert counts["dues"] == {"memberMonths": 2, "paidInFull": 1, "compliance": 50.0}
    assert counts["learningCredits"] == 0


def test_report_is_published_to_parent_inbox_signed_by_instance_actor(county_data, settings, hold_deliveries):
    """``send_report`` stores one Delivery to the parent's inbox whose body is a Create of the report."""
    settings.NODE_PARENT = "http://province.example"
    row = stats.send_report()
    delivery = Delivery.objects.get()
    assert delivery.inbox_url == "http://province.example/inbox"
    body = delivery.activity.body
    assert body["type"] == "Create" and body["actor"].endswith(delivery.activity.actor.ap_id.rsplit("/", 1)[-1])
    assert delivery.activity.actor.type == ActorType.APPLICATION
    assert body["object"]["type"] == "redcloud:StatisticsReport"
    assert body["object"]["id"] == stats.report_id(timezone.localdate())
    assert body["object"]["redcloud:own"]["members"]["total"] == 3
    assert row.direction == StatsDirection.SENT


def test_unchanged_report_is_not_sent_twice_and_changes_go_as_update(county_data, settings, hold_deliveries):
    """Sending the same counts again adds nothing; changed counts go out as Update of the same id."""
    settings.NODE_PARENT = "http://province.example"
    stats.send_report()
    stats.send_report()
    assert OutboxActivity.objects.count() == 1
    services.create_post(county_data["alice"], text="another")
    stats.send_report()
    types = list(OutboxActivity.objects.order_by("pk").values_list("type", flat=True))
    assert types == ["Create", "Update"]
    assert len(set(OutboxActivity.objects.values_list("object_ap_id", flat=True))) == 1
    assert StatsReport.objects.filter(direction=StatsDirection.SENT).count() == 1


def test_no_parent_means_nothing_sent(county_data, settings, hold_deliveries):
    """A province (no parent) stores its report and sends nothing."""
    settings.NODE_PARENT = ""
    stats.send_report()
    assert StatsReport.objects.count() == 1
    assert OutboxActivity.objects.count() == 0 and Delivery.objects.count() == 0


def test_inbound_report_is_stored_once_on_replay(client, child, django_capture_on_commit_callbacks):
    """A child's signed report posted twice: both 202, one InboxItem, one stored report."""
    actor, pem, rel = child
    activity = report_activity(actor)
    with django_capture_on_commit_callbacks(execute=True):
        first = signed_post(client, "/inbox", activity, key_id=actor.public_key_id, pem=pem)
        second = signed_post(client, "/inbox", activity, key_id=actor.public_key_id, pem=pem)
    assert first.status_code == second.status_code == 202
    assert InboxItem.objects.count() == 1
    report = StatsReport.objects.get(direction=StatsDirection.RECEIVED)
    assert report.node_domain == actor.domain and report.signature_verified
    assert report.payload["redcloud:total"]["members"]["total"] == 3
    rel.refresh_from_db()
    assert rel.last_seen_at is not None


def test_report_from_non_child_is_refused(client, fake_server, make_remote_actor, django_capture_on_commit_callbacks):
    """A signed report from a node that is not an accepted child is rejected and nothing is stored."""
    actor, pem = make_remote_actor(
        "instance.actor", domain=fake_server.netloc, scheme="http", type=ActorType.APPLICATION
    )
    NodeRelation.objects.create(
        actor=actor, direction=RelationDirection.CHILD, state=RelationState.PENDING, domain=actor.domain
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(client, "/inbox", report_activity(actor), key_id=actor.public_key_id, pem=pem)
    assert response.status_code == 202  # the inbox acknowledges; the worker refuses
    assert InboxItem.objects.get().state == InboxItemState.REJECTED
    assert StatsReport.objects.count() == 0


def test_report_speaking_for_another_node_is_refused(child):
    """A child may only report its own domain."""
    actor, _pem, _rel = child
    activity = report_activity(actor)
    activity["object"]["redcloud:node"]["domain"] = "other.example"
    with pytest.raises(stats.Reject):
        stats.handle_report(activity, actor)
    assert StatsReport.objects.count() == 0


def test_malformed_counts_are_refused(child):
    """Negative counts are refused and nothing is stored."""
    actor, _pem, _rel = child
    activity = report_activity(actor)
    activity["object"]["redcloud:total"]["posts"] = -5
    with pytest.raises(stats.Reject):
        stats.handle_report(activity, actor)
    assert StatsReport.objects.count() == 0


def test_parent_total_is_own_plus_childrens_latest(county_data, child, settings, hold_deliveries):
    """The hub's total = its own counts + each child's latest total (older reports ignored)."""
    settings.NODE_PARENT = ""
    actor, _pem, _rel = child
    today = timezone.localdate()
    stats.handle_report(report_activity(actor, members=2, posts=4, period=today - timedelta(days=1), n=1), actor)
    stats.handle_report(report_activity(actor, members=5, posts=9, period=today, n=2), actor)
    report = stats.build_report(today)
    own, total = report["redcloud:own"], report["redcloud:total"]
    assert total["members"]["total"] == own["members"]["total"] + 5
    assert total["posts"] == own["posts"] + 9
    assert total["groups"]["branch"] == own["groups"]["branch"] + 1
    assert total["dues"]["memberMonths"] == 2 + 4 and total["dues"]["paidInFull"] == 1 + 2
    assert [c["domain"] for c in report["redcloud:children"]] == [actor.domain]


def test_later_report_replaces_and_earlier_does_not(child):
    """A newer report for the same period replaces the stored one; a stale one does not."""
    actor, _pem, _rel = child
    newer = report_activity(actor, members=8, n=2)
    older = report_activity(actor, members=1, n=1)
    older["published"] = (timezone.now() - timedelta(hours=1)).isoformat()
    stats.handle_report(newer, actor)
    stats.handle_report(older, actor)
    assert StatsReport.objects.get().payload["redcloud:own"]["members"]["total"] == 8


def test_child_turns_unhealthy_after_silence_and_recovers(child):
    """No report for more than two periods: unhealthy since then; a new report makes it healthy."""
    actor, _pem, rel = child
    stats.handle_report(report_activity(actor), actor)
    StatsReport.objects.update(received_at=timezone.now() - silence_limit() - timedelta(minutes=5))
    rel.refresh_from_db()
    sick = health_of(rel)
    assert not sick.healthy and sick.reasons == ["silent"]
    assert abs((sick.since - (timezone.now() - timedelta(minutes=5))).total_seconds()) < 60
    stats.handle_report(report_activity(actor, members=4, n=2), actor)
    assert health_of(rel).healthy


def test_child_unhealthy_while_deliveries_fail(child):
    """An unreachable domain makes the child unhealthy since then; reset, it is healthy again."""
    actor, _pem, rel = child
    stats.handle_report(report_activity(actor), actor)
    since = timezone.now() - timedelta(hours=3)
    Domain.objects.create(host=actor.domain, consecutive_failures=7, unreachable_since=since)
    health = health_of(rel)
    assert not health.healthy and health.reasons == ["deliveries failing"] and health.since == since
    Domain.objects.filter(host=actor.domain).update(consecutive_failures=0, unreachable_since=None)
    assert health_of(rel).healthy


def test_beat_schedule_is_scaled(settings):
    """The daily report is in the beat schedule."""
    assert settings.CELERY_BEAT_SCHEDULE["node.stats.report"]["task"] == "node.stats.report"


def test_payload_is_json_serialisable(county_data):
    """The report object is plain JSON."""
    assert json.loads(json.dumps(stats.build_report(timezone.localdate())))["type"] == stats.REPORT_TYPE

"""The federation demo's sample-data loader: realistic data through the services, private
records kept private, a second load refused."""

from __future__ import annotations

import pytest

from groups.models import DuesRecord, Event, Group, Meeting
from learning.models import Course, CourseState
from microblog.models import Post, Visibility
from node.demo import MEMBERS_PER_COUNTY, DemoError, load_county_sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample(hold_deliveries, django_capture_on_commit_callbacks):
    """The sample of one county, loaded with its after-commit work run."""
    with django_capture_on_commit_callbacks(execute=True):
        return load_county_sample("五华区", offset=0)


def test_loader_creates_members_groups_and_records_for_one_county(sample):
    """Members with Chinese names, a members-only branch with a meeting and dues, and an open group."""
    assert len(sample.members) == MEMBERS_PER_COUNTY
    assert Post.objects.get(ap_id=sample.public_posts[0]).author.name == "张伟"
    branch = Group.objects.get(actor__username=sample.branch)
    assert branch.members_only and branch.actor.name == "五华区第一党支部"
    assert not Group.objects.get(actor__username=sample.open_group).members_only
    assert Meeting.objects.filter(group=branch).count() == sample.meetings == 1
    assert DuesRecord.objects.filter(group=branch).count() == sample.dues_records == MEMBERS_PER_COUNTY


def test_loader_posts_are_public_except_the_private_ones(sample):
    """Public posts in zh/en/bo are public; the followers-only and branch posts are not."""
    public = Post.objects.filter(ap_id__in=sample.public_posts)
    assert {p.visibility for p in public} == {Visibility.PUBLIC}
    assert {p.language for p in public} == {"zh-Hans", "en", "bo"}
    assert Post.objects.get(ap_id=sample.followers_only).visibility == Visibility.PRIVATE
    assert Post.objects.get(ap_id=sample.members_only).visibility == Visibility.DIRECT
    assert Post.objects.get(ap_id=sample.group_post).visibility == Visibility.PUBLIC
    assert all(any(m in p.content for p in Post.objects.all()) for m in sample.secret_markers[:1])


def test_loader_makes_a_public_poll_event_and_published_course(sample):
    """The open group's poll has a vote, its event is public, the course is published."""
    question = Post.objects.get(ap_id=sample.poll)
    assert question.visibility == Visibility.PUBLIC
    assert question.poll.voters_count == 1
    assert Event.objects.get(ap_id=sample.event).visibility == "public"
    assert Course.objects.get(ap_id=sample.course).state == CourseState.PUBLISHED


def test_loader_refuses_a_second_load(sample):
    """Loading the same sample twice raises DemoError and adds nothing."""
    before = Post.objects.count()
    with pytest.raises(DemoError):
        load_county_sample("五华区", offset=0)
    assert Post.objects.count() == before


def test_loader_offset_picks_other_people(sample, hold_deliveries):
    """Another offset loads another set of members on the same node."""
    other = load_county_sample("盘龙区", offset=MEMBERS_PER_COUNTY)
    assert not set(other.members) & set(sample.members)


def test_demo_hierarchy_levels_and_names_without_starting(tmp_path):
    """The demo's six nodes form province → 2 prefectures → 3 counties, each named in Chinese."""
    from node.devnet import Devnet, parse_nodes
    from node.devnet_demo import DEMO_NODES, levels, node_env

    net = Devnet(DEMO_NODES, directory=tmp_path, node_env=node_env(parse_nodes(DEMO_NODES)))
    net.prepare()  # env files and folders only; no process starts
    assert [[n.name for n in level] for level in levels(net)] == [
        ["yunnan"],
        ["kunming", "lijiang"],
        ["wuhua", "panlong", "gucheng"],
    ]
    assert net.nodes["wuhua"].env["NODE_NAME"] == "五华区" and net.nodes["wuhua"].parent == "kunming"
    assert net.nodes["gucheng"].env["NODE_REGION_CODE"] == "530702"
    assert "NODE_NAME=" in (tmp_path / "gucheng.env").read_text(encoding="utf-8")
    assert net.pids() == set()

"""Sample data for the federation demo (``make federation-demo``) and the chain e2e test.

:func:`load_county_sample` fills one county node through the services (the only write path,
so everything federates exactly as in production): members with Chinese names, a members-only
branch with an internal post, a meeting record and dues records (none of which may ever leave
the node), an open volunteer group with a public group post, a public poll with a vote and a
public event, public posts in Chinese, English and Tibetan, a followers-only post, and a
published course. It returns what it made (ids), so a caller can check where each thing ends up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from federation.models import Actor
from groups import dues, events, records
from groups import services as groups
from groups.posts import create_group_post
from groups.votes import create_group_poll, vote_in_group
from learning import services as learning
from microblog.models import Poll
from microblog.services import create_post
from node.accounts import create_member

# (username, display name) of the sample members; the first one is the branch secretary.
PEOPLE = [
    ("zhangwei", "张伟"),
    ("wangfang", "王芳"),
    ("lina", "李娜"),
    ("liuyang", "刘洋"),
    ("chenjing", "陈静"),
    ("yangmin", "杨敏"),
    ("zhaolei", "赵磊"),
    ("huangli", "黄丽"),
    ("zhouqiang", "周强"),
]
MEMBERS_PER_COUNTY = 4
PASSWORD = "demo-demo-2024"  # noqa: S105 -- printed by the demo; a devnet on loopback only


class DemoError(Exception):
    """The sample data cannot be loaded (e.g. it is loaded already)."""


@dataclass
class Sample:
    """What :func:`load_county_sample` made: usernames and the ActivityPub ids by kind."""

    place: str
    members: list[str] = field(default_factory=list)
    secretary: str = ""
    branch: str = ""
    open_group: str = ""
    public_posts: list[str] = field(default_factory=list)  # ap ids; each must reach the hubs once
    group_post: str = ""  # public post in the open group
    followers_only: str = ""  # must never leave the node's followers
    members_only: str = ""  # internal post of the members-only branch
    poll: str = ""  # public Question of the open group
    event: str = ""  # public Event of the open group
    course: str = ""  # published course
    meetings: int = 0
    dues_records: int = 0
    secret_markers: list[str] = field(default_factory=list)  # text that must never reach a hub

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _people(offset: int) -> list[tuple[str, str]]:
    picked = [PEOPLE[(offset + i) % len(PEOPLE)] for i in range(MEMBERS_PER_COUNTY)]
    return picked


def load_county_sample(place: str, *, offset: int = 0, password: str | None = PASSWORD) -> Sample:
    """Create the sample data of one county called ``place`` (e.g. ``五华区``); ``offset`` picks
    other sample people so counties differ. Guarantees: all or nothing (one transaction; the
    federation work runs after commit); raises :class:`DemoError` when this node already has the
    sample's first member."""
    sample = Sample(place=place)
    people = _people(offset)
    if Actor.objects.filter(username=people[0][0], local=True).exists():
        raise DemoError(f"the sample data is loaded already ({people[0][0]} exists)")
    now = timezone.now()
    with transaction.atomic():
        actors = []
        for username, name in people:
            user = create_member(username, display_name=name, real_name=name, password=password)
            actors.append(user.actor)
            sample.members.append(username)
        secretary, others = actors[0], actors[1:]
        sample.secretary = secretary.username
        _branch(sample, place, secretary, others, now)
        _open_group(sample, place, secretary, others, now)
        _posts(sample, place, actors)
        _course(sample, place, secretary)
    return sample


def _join(group: Any, members: list[Actor], by: Actor) -> None:
    for member in members:
        groups.request_membership(member, group)
        groups.approve(group, member, by=by)


def _branch(sample: Sample, place: str, secretary: Actor, others: list[Actor], now: Any) -> None:
    """The members-only branch: an internal post, a meeting, dues. None of it is public."""
    branch = groups.create_group(
        f"branch_{secretary.username}",
        display_name=f"{place}第一党支部",
        kind="branch",
        secretary=secretary,
        description=f"{place}机关第一党支部",
        members_only=True,
    )
    sample.branch = branch.actor.username
    _join(branch, others, secretary)
    secret = f"支部内部通知 {place} 请勿外传"
    sample.secret_markers.append(secret)
    internal = create_group_post(others[0], branch.actor, text=f"{secret}：周五下午学习会。")
    sample.members_only = internal.ap_id
    minutes = f"会议纪要 {place} 内部"
    sample.secret_markers.append(minutes)
    records.create_meeting(
        secretary,
        branch,
        kind="member_assembly",
        held_on=timezone.localdate(now) - timedelta(days=3),
        place=f"{place}党群服务中心",
        title="党员大会",
        topics=["学习二十大精神", "发展党员"],
        minutes=minutes,
        attendees=[secretary, *others],
    )
    sample.meetings = 1
    month = timezone.localdate(now).strftime("%Y-%m")
    for index, member in enumerate([secretary, *others]):
        paid = "20.00" if index % 3 != 2 else "0"
        dues.record_dues(secretary, branch, member, month=month, amount_due="20.00", amount_paid=paid)
        sample.dues_records += 1


def _open_group(sample: Sample, place: str, secretary: Actor, others: list[Actor], now: Any) -> None:
    """An open volunteer group: a public group post, a public poll with a vote, a public event."""
    group = groups.create_group(
        f"volunteers_{secretary.username}",
        display_name=f"{place}志愿服务队",
        kind="committee",
        secretary=secretary,
        description=f"{place}社区志愿服务",
        members_only=False,
    )
    sample.open_group = group.actor.username
    _join(group, others, secretary)
    post = create_group_post(others[1], group.actor, text=f"{place}志愿服务队本周六在社区开展义诊活动，欢迎参加！")
    sample.group_post = post.ap_id
    question = create_group_poll(
        secretary,
        group,
        text=f"{place}志愿服务队下次活动选在哪天？",
        options=["周六上午", "周日下午"],
        expires_in=7 * 24 * 3600,
    )
    sample.poll = question.ap_id
    poll = Poll.objects.get(post=question)
    vote_in_group(others[0], poll, [0])
    start = now + timedelta(days=5)
    event = events.create_event(
        secretary,
        group,
        name=f"{place}社区义诊",
        content="免费测血压、血糖，欢迎居民参加。",
        start_at=start,
        end_at=start + timedelta(hours=3),
        timezone="Asia/Shanghai",
        location_name=f"{place}社区服务中心",
        visibility="public",
    )
    sample.event = event.ap_id


def _posts(sample: Sample, place: str, actors: list[Actor]) -> None:
    """Public posts in Chinese, English and Tibetan, and one followers-only post."""
    texts = [
        (f"{place}今天召开乡村振兴工作推进会，会议部署了下一阶段重点任务。", "zh"),
        (f"{place}图书馆新增红色书籍专区，欢迎大家借阅。", "zh"),
        (f"{place}: the new community health station opens next Monday.", "en"),
        (f"{place} བཀྲ་ཤིས་བདེ་ལེགས། ཚོགས་པའི་ལས་དོན་ལ་རོགས་རམ་བྱེད་རོགས།", "bo"),
    ]
    for index, (text, language) in enumerate(texts):
        post = create_post(actors[index % len(actors)], text=text, visibility="public", language=language)
        sample.public_posts.append(post.ap_id)
    secret = f"仅关注者可见 {place} 私下讨论"
    sample.secret_markers.append(secret)
    private = create_post(actors[-1], text=f"{secret}：下周聚餐地点待定。", visibility="private")
    sample.followers_only = private.ap_id


def _course(sample: Sample, place: str, secretary: Actor) -> None:
    """A short published course (courses are shared with the hubs by the instance actor)."""
    learning.grant_instructor(secretary)
    course = learning.create_course(
        secretary,
        title=f"{place}基层党建实务",
        summary="支部工作基本流程与规范。",
        category="党建",
        language="zh",
        credits=2,
    )
    learning.add_lesson(secretary, course, title="第一课：支部组织生活", body="三会一课的基本要求。")
    learning.publish_course(secretary, course)
    sample.course = course.ap_id

"""Sharing courses between nodes: the AS2 document and its answer keys, publishing, the
catalog, importing with origin and attribution, and refreshing from the origin only."""

from __future__ import annotations

import itertools
import json

import pytest
from django.db import transaction
from django.urls import reverse

from federation.actors import get_instance_actor
from federation.inbound import process_item
from federation.keys import load_private_key
from federation.models import ActorType, Follow, FollowState, InboxItem, InboxItemState, OutboxActivity
from federation.signatures import sign_request
from learning import exams, services, sharing
from learning.errors import LearningError
from learning.models import Course, CourseImporter, CourseOrigin, Question, SharedCourse
from learning.sharing_ap import parse_course

AS2 = "application/activity+json"
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _loopback(settings, tmp_path):
    """Fetches may reach the loopback fake server; files go to a temporary folder."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def course(make_local_member, django_capture_on_commit_callbacks, hold_deliveries):
    """A published local course: two lessons, a bank of three questions, an exam drawing two."""
    teacher = make_local_member("teacher")
    services.grant_instructor(teacher)
    with django_capture_on_commit_callbacks(execute=True):
        c = services.create_course(teacher, title="党员教育基础", summary="入门课程", credits=2, category="党史")
        services.add_lesson(teacher, c, title="第一课", body="**党员**的义务")
        services.add_lesson(teacher, c, title="第二课", body="组织生活")
        exams.add_question(teacher, c, kind="single", prompt="一加一", choices=["一", "二"], answer=[1])
        exams.add_question(teacher, c, kind="true_false", prompt="天是蓝的", answer=[True])
        exams.add_question(teacher, c, kind="fill", prompt="首都是____", answer=["北京"])
        exams.set_exam(teacher, c, question_count=2, pass_mark=50)
        services.publish_course(teacher, c)
    c.refresh_from_db()
    return c


def path_of(course) -> str:
    """The local path of a course's AS2 id (``/courses/<key>``)."""
    return "/" + course.ap_id.split("/", 3)[3]


def fetch(client, course, **headers):
    return client.get(path_of(course), HTTP_ACCEPT=AS2, **headers)


def signed_headers(url: str, actor, private_pem: str) -> dict[str, str]:
    headers = sign_request(
        "GET", url, {"Accept": AS2}, None, key_id=actor.public_key_id, private_key=load_private_key(private_pem)
    )
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "accept"}


def has_answers(doc: dict) -> bool:
    text = json.dumps(doc, ensure_ascii=False)
    return "redcloud:questions" in doc or "redcloud:answer" in text or "北京" in text


def test_course_document_has_no_answers_for_anonymous_fetch(client, course):
    """An unsigned fetch gets the course and its lessons, never the question bank or keys."""
    response = fetch(client, course)
    assert response.status_code == 200
    doc = response.json()
    assert doc["id"] == course.ap_id and "redcloud:Course" in doc["type"]
    assert [item["name"] for item in doc["redcloud:lessons"]["orderedItems"]] == ["第一课", "第二课"]
    assert doc["redcloud:exam"]["redcloud:questionCount"] == 2
    assert doc["attributedTo"] == get_instance_actor().ap_id
    assert not has_answers(doc)
    assert not CourseImporter.objects.exists()


def test_course_page_redirects_browsers(client, course):
    """A browser asking for HTML is sent to the course page."""
    response = client.get(path_of(course), HTTP_ACCEPT="text/html")
    assert response.status_code == 302
    assert response["Location"] == reverse("learning_course", args=[course.pk])


def test_course_document_has_answers_for_signed_instance_actor(client, course, make_remote_actor, settings):
    """A node's instance actor fetching with a valid signature gets the keys and is recorded."""
    node, pem = make_remote_actor("instance.actor", domain="county-b.example", type=ActorType.APPLICATION)
    url = f"https://{settings.NODE_DOMAIN}{path_of(course)}"
    response = fetch(client, course, **signed_headers(url, node, pem))
    assert response.status_code == 200
    doc = response.json()
    assert has_answers(doc)
    keys = {q["content"]: q["redcloud:answer"] for q in doc["redcloud:questions"]}
    assert keys == {"一加一": [1], "天是蓝的": [True], "首都是____": ["北京"]}
    assert "no-store" in response["Cache-Control"]
    assert CourseImporter.objects.filter(course=course, actor=node).exists()


def test_course_document_refuses_answers_to_people_and_forgeries(client, course, make_remote_actor, settings):
    """A signed fetch by a person, a forged signature and a node outside the allowed domains get no keys."""
    url = f"https://{settings.NODE_DOMAIN}{path_of(course)}"
    person, person_pem = make_remote_actor("mallory", domain="evil.example")
    assert not has_answers(fetch(client, course, **signed_headers(url, person, person_pem)).json())
    node, _pem = make_remote_actor("instance.actor", domain="county-c.example", type=ActorType.APPLICATION)
    forged = signed_headers(url, node, person_pem)  # signed with someone else's key
    assert not has_answers(fetch(client, course, **forged).json())
    other, other_pem = make_remote_actor("instance.actor", domain="county-d.example", type=ActorType.APPLICATION)
    settings.LEARNING_ANSWER_KEY_DOMAINS = ["county-b.example"]
    assert not has_answers(fetch(client, course, **signed_headers(url, other, other_pem)).json())
    assert not CourseImporter.objects.exists()


def test_course_document_refuses_answers_to_blocked_suspended_or_replayed_fetches(
    client, course, make_remote_actor, settings
):
    """A node's instance actor gets no keys once its domain is blocked or it is suspended, nor
    with a signature made for another path (the course's public document is still served)."""
    from federation.policy import block_domain

    url = f"https://{settings.NODE_DOMAIN}{path_of(course)}"
    node, pem = make_remote_actor("instance.actor", domain="county-e.example", type=ActorType.APPLICATION)
    elsewhere = signed_headers(f"https://{settings.NODE_DOMAIN}/courses/{'0' * 32}", node, pem)
    response = fetch(client, course, **elsewhere)
    assert response.status_code == 200 and not has_answers(response.json())
    node.suspended = True
    node.save(update_fields=["suspended"])
    assert not has_answers(fetch(client, course, **signed_headers(url, node, pem)).json())
    other, other_pem = make_remote_actor("instance.actor", domain="county-f.example", type=ActorType.APPLICATION)
    block_domain("county-f.example")
    assert not has_answers(fetch(client, course, **signed_headers(url, other, other_pem)).json())
    assert not CourseImporter.objects.exists()


def test_draft_course_is_not_served(client, make_local_member):
    """A draft course answers 404, as an absent one does."""
    teacher = make_local_member("t2")
    services.grant_instructor(teacher)
    draft = services.create_course(teacher, title="draft")
    assert fetch(client, draft).status_code == 404


def test_publishing_sends_public_create_without_answers(course, make_remote_actor, hold_deliveries):
    """Publishing stores a public Create by the instance actor, addressed to Public, without keys,
    delivered to the hub the instance actor follows."""
    activity = OutboxActivity.objects.get(type="Create", object_ap_id=course.ap_id)
    assert activity.public and activity.actor == get_instance_actor()
    assert "https://www.w3.org/ns/activitystreams#Public" in activity.body["to"]
    assert not has_answers(activity.body["object"])
    hub, _pem = make_remote_actor("instance.actor", domain="province.example", type=ActorType.APPLICATION)
    Follow.objects.create(follower=get_instance_actor(), target=hub, state=FollowState.ACCEPTED, ap_id="https://x/f/1")
    services.update_lesson(course.owner, course.lessons.first(), title="第一课（修订）")
    sharing.federate_course(course.pk, "updated")
    update = OutboxActivity.objects.filter(type="Update", object_ap_id=course.ap_id).latest("pk")
    assert not has_answers(update.body)
    assert hub.shared_inbox_url in {d.inbox_url for d in update.deliveries.all()}


# ---------------------------------------------------------------- the importing side


def remote_course(base: str, *, lesson1: str = "Lesson one", with_answers: bool = True) -> dict:
    """The document a remote Redcloud node serves for one of its courses."""
    doc = {
        "@context": ["https://www.w3.org/ns/activitystreams", {"redcloud": "https://redcloud.example/ns#"}],
        "id": f"{base}/courses/abc",
        "type": ["redcloud:Course", "Document"],
        "name": "基层党建",
        "summary": "&lt;b&gt;summary&lt;/b&gt;",
        "attributedTo": f"{base}/users/instance.actor",
        "url": f"{base}/learning/courses/7",
        "published": "2026-01-01T00:00:00Z",
        "updated": "2026-01-02T00:00:00Z",
        "redcloud:authorNames": "张老师",
        "redcloud:category": "党建",
        "redcloud:credits": 3,
        "redcloud:language": "zh-Hans",
        "redcloud:lessons": {
            "type": "OrderedCollection",
            "orderedItems": [
                {
                    "id": f"{base}/courses/abc/lessons/1",
                    "type": "Article",
                    "name": lesson1,
                    "content": "<p>text<script>alert(1)</script></p>",
                    "source": {"content": "text", "mediaType": "text/markdown"},
                    "attachment": [{"type": "Document", "url": f"{base}/media/a.pdf", "mediaType": "application/pdf"}],
                },
                {"id": f"{base}/courses/abc/lessons/2", "type": "Article", "name": "Lesson two", "content": "<p>2</p>"},
            ],
        },
        "redcloud:exam": {"redcloud:questionCount": 1, "redcloud:passMark": 60},
    }
    if with_answers:
        doc["redcloud:questions"] = [
            {
                "id": f"{base}/courses/abc/questions/1",
                "content": "1+1?",
                "redcloud:kind": "single",
                "redcloud:choices": ["1", "2"],
                "redcloud:answer": [1],
            }
        ]
    return doc


@pytest.fixture
def origin(fake_server, make_remote_actor):
    """The fake server plays county-a: its instance actor and a course document."""
    publisher, _pem = make_remote_actor(
        "instance.actor", domain=fake_server.netloc, scheme="http", type=ActorType.APPLICATION
    )
    base = fake_server.url("").rstrip("/")

    def serve(doc: dict) -> str:
        fake_server.route("GET", "/courses/abc", json=doc, headers={"Content-Type": AS2})
        return doc["id"]

    return publisher, base, serve


def test_import_copies_content_with_origin_and_attribution(origin, fake_server):
    """An import stores the course, its lessons (sanitised), questions with keys and exam, with origin id."""
    publisher, base, serve = origin
    url = serve(remote_course(base))
    course = sharing.import_course(url)
    assert not course.local and course.ap_id == url and course.origin_ap_id == url
    assert course.author_names == "张老师" and course.credits == 3 and course.summary == "<b>summary</b>"
    assert [lesson.title for lesson in course.lessons.all()] == ["Lesson one", "Lesson two"]
    assert "<script>" not in course.lessons.first().body_html
    assert course.lessons.first().attachments.get().remote_url == f"{base}/media/a.pdf"
    assert Question.objects.get(course=course).answer == [1]
    assert course.exam.question_count == 1
    assert CourseOrigin.objects.get(course=course).publisher == publisher
    assert fake_server.requests_to("/courses/abc")[0].header("signature")  # fetched signed


def test_import_refused_without_answer_keys(origin):
    """A course whose exam comes without its keys is refused and nothing is stored."""
    _publisher, base, serve = origin
    url = serve(remote_course(base, with_answers=False))
    with pytest.raises(LearningError):
        sharing.import_course(url)
    assert not Course.objects.exists()


def deliver(activity: dict, actor) -> InboxItem:
    """Store ``activity`` as a verified inbox item from ``actor`` and process it like the worker."""
    activity.setdefault("id", f"{actor.ap_id}/activities/{next(_ids)}")
    activity.setdefault("actor", actor.ap_id)
    item = InboxItem.objects.create(
        activity_id=activity["id"],
        activity_type=activity["type"],
        actor_id=actor.ap_id,
        domain=actor.domain,
        body=json.dumps(activity),
    )
    process_item(item)
    item.refresh_from_db()
    return item


def test_update_from_origin_refreshes_copy(origin, fake_server, django_capture_on_commit_callbacks):
    """An Update from the origin's instance actor makes us refetch the course and apply it."""
    publisher, base, serve = origin
    url = serve(remote_course(base))
    course = sharing.import_course(url)
    changed = remote_course(base, lesson1="Lesson one, revised")
    serve(changed)
    public = {k: v for k, v in changed.items() if k != "redcloud:questions"}
    with django_capture_on_commit_callbacks(execute=True):
        item = deliver({"type": "Update", "object": public}, publisher)
    assert item.state == InboxItemState.PROCESSED, item.error
    assert course.lessons.first().title == "Lesson one, revised"
    assert len(fake_server.requests_to("/courses/abc")) == 2


def test_update_from_another_actor_is_rejected(origin, fake_server, make_remote_actor):
    """An Update of an imported course by another node's actor is rejected and changes nothing."""
    _publisher, base, serve = origin
    course = sharing.import_course(serve(remote_course(base)))
    intruder, _pem = make_remote_actor("instance.actor", domain="evil.example", type=ActorType.APPLICATION)
    forged = remote_course(base, lesson1="Forged")
    forged["attributedTo"] = intruder.ap_id
    item = deliver({"type": "Update", "object": forged}, intruder)
    assert item.state == InboxItemState.REJECTED
    assert course.lessons.first().title == "Lesson one"
    assert len(fake_server.requests_to("/courses/abc")) == 1


def test_create_from_origin_joins_catalog(origin, client):
    """A course announced by its node's instance actor is listed in the shared catalog (AS2 and HTML)."""
    publisher, base, _serve = origin
    doc = remote_course(base, with_answers=False)
    item = deliver({"type": "Create", "object": doc}, publisher)
    assert item.state == InboxItemState.PROCESSED, item.error
    entry = SharedCourse.objects.get()
    assert entry.ap_id == doc["id"] and entry.lesson_count == 2 and entry.publisher == publisher
    listed = client.get(reverse("learning_shared"), HTTP_ACCEPT=AS2).json()
    assert [i["id"] for i in listed["orderedItems"]] == [doc["id"]]
    assert "基层党建" in client.get(reverse("learning_shared")).content.decode()


def test_create_from_a_person_is_rejected(origin, make_remote_actor):
    """A course announced by a person (not a node) or from another host is rejected, not listed."""
    _publisher, base, _serve = origin
    person, _pem = make_remote_actor("someone", domain=base.split("//")[1], scheme="http")
    item = deliver({"type": "Create", "object": remote_course(base)}, person)
    assert item.state == InboxItemState.REJECTED
    assert not SharedCourse.objects.exists()


def test_parse_course_refuses_foreign_lessons(origin):
    """A lesson whose id is on another host than the course makes the document unusable."""
    _publisher, base, _serve = origin
    doc = remote_course(base)
    doc["redcloud:lessons"]["orderedItems"][0]["id"] = "https://elsewhere.example/l/1"
    with pytest.raises(ValueError):
        parse_course(doc)


def test_import_page_is_for_staff_only(client, make_local_member, origin):
    """Members who are not staff get 404 from the import page and nothing is imported."""
    _publisher, base, serve = origin
    url = serve(remote_course(base))
    member = make_local_member("plainmember")
    client.force_login(member.user)
    response = client.post(reverse("learning_import"), {"url": url})
    assert response.status_code == 404
    assert not Course.objects.exists()
    member.user.is_staff = True
    member.user.save()
    with transaction.atomic():
        response = client.post(reverse("learning_import"), {"url": url})
    assert response.status_code == 302
    assert Course.objects.get(ap_id=url).origin.imported_by == member


def test_cli_import_course(origin, capsys):
    """``manage.py learning import-course URL`` imports the course; a bad URL exits with an error."""
    from django.core.management import CommandError, call_command

    _publisher, base, serve = origin
    url = serve(remote_course(base))
    call_command("learning", "import-course", url)
    assert Course.objects.get(ap_id=url).origin_ap_id == url
    with pytest.raises(CommandError):
        call_command("learning", "import-course", f"{base}/courses/missing")
    assert Course.objects.count() == 1

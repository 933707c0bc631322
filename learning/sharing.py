"""Sharing courses between nodes: publishing, the catalog of shared courses, importing and
refreshing copies, and who may read answer keys.

- **Publishing**: when a local course is published, changed or archived (``learning.registry``
  course observers), the node's instance actor publishes ``Create``/``Update``/``Delete`` of the
  course, addressed to Public and its followers, delivered to its followers, to the actors it
  follows (the parent hub: children follow their parent, so this is how a county's course
  reaches the province) and, for updates, to the nodes that imported the course. Public
  activities carry the course without answer keys.
- **Catalog**: any node stores courses announced to it by their origin's instance actor
  (``SharedCourse``, public fields only); the province hub's catalog is that list.
- **Import** (``import_course``): the operator names a course URL; it is fetched signed by our
  instance actor (so the origin hands us the answer keys and records us as an importer) and
  copied with its origin id and attribution. A later ``Update`` from the origin's instance
  actor makes us fetch it again (``refresh_course``); an ``Update`` from anyone else is refused.
- **Answer keys**: only for a signed fetch by a node's instance actor (``may_read_answers``);
  ``LEARNING_ANSWER_KEY_DOMAINS`` (None: every node) restricts which nodes.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.actors import get_instance_actor
from federation.fetch import FetchError, fetch_document
from federation.hosts import host_of
from federation.models import Actor, ActorType, Follow, FollowState
from federation.outbox import inboxes_for_followers, publish
from federation.policy import is_blocked
from federation.resolve import ResolveError, get_or_fetch_actor, instance_signer
from learning import registry
from learning.errors import LearningError
from learning.models import (
    Course,
    CourseImporter,
    CourseOrigin,
    CourseState,
    Exam,
    Lesson,
    LessonAttachment,
    Question,
    SharedCourse,
)
from learning.sharing_ap import CONTEXT, CourseFormatError, course_to_ap, parse_course

MAX_COURSE_BYTES = 8 * 1024 * 1024
ACTIVITY_TYPES = {"published": "Create", "updated": "Update", "archived": "Delete"}


# ---------------------------------------------------------------- documents and access


def course_url(course: Course) -> str:
    """The HTML page of a course on this node."""
    return f"{settings.NODE_BASE_URL}{reverse('learning_course', args=[course.pk])}"


def course_document(course: Course, *, with_answers: bool = False) -> dict[str, Any]:
    """The AS2 document of a local published course (answer keys only when asked)."""
    return course_to_ap(course, publisher=get_instance_actor(), url=course_url(course), with_answers=with_answers)


def may_read_answers(fetcher: Actor | None) -> bool:
    """True when a verified signed fetch by ``fetcher`` may see answer keys: a remote node's
    instance actor (type ``Application``), not suspended, not blocked, and allowed by
    ``LEARNING_ANSWER_KEY_DOMAINS`` (None: every node; a list: only those domains)."""
    if fetcher is None or fetcher.local or fetcher.suspended or fetcher.type != ActorType.APPLICATION:
        return False
    if is_blocked(fetcher.domain):
        return False
    allowed = settings.LEARNING_ANSWER_KEY_DOMAINS
    return allowed is None or fetcher.domain in allowed


def record_importer(course: Course, fetcher: Actor) -> None:
    """Remember that ``fetcher`` (a node's instance actor) read ``course`` with its answer keys:
    it receives the course's ``Update``s from now on."""
    now = timezone.now()
    row, created = CourseImporter.objects.get_or_create(course=course, actor=fetcher)
    if not created:
        CourseImporter.objects.filter(pk=row.pk).update(last_fetched_at=now)


# ---------------------------------------------------------------- publishing


def activity_id(course: Course, kind: str) -> str:
    """A stable id for the ``kind`` activity of ``course`` at its current version."""
    version = course.updated_at.isoformat() if course.updated_at else ""
    key = uuid.uuid5(uuid.NAMESPACE_URL, f"redcloud-course:{course.ap_id}#{kind}#{version}")
    return f"{settings.NODE_BASE_URL}/activities/{key}"


def _course_inboxes(course: Course, me: Actor, *, importers: bool) -> list[str]:
    inboxes = inboxes_for_followers(me)
    followed = Follow.objects.filter(follower=me, state=FollowState.ACCEPTED, target__local=False)
    inboxes += [f.target.delivery_inbox for f in followed.select_related("target")]
    if importers:
        rows = CourseImporter.objects.filter(course=course).select_related("actor")
        inboxes += [r.actor.delivery_inbox for r in rows]
    return [url for url in dict.fromkeys(inboxes) if url]


def federate_course(course_id: int, event: str) -> str:
    """Publish the activity of ``event`` (published/updated/archived) for a local course, as
    the instance actor. Idempotent per course version. Returns the activity id ("" if none)."""
    course = Course.objects.filter(pk=course_id, local=True).first()
    kind = ACTIVITY_TYPES.get(event)
    if course is None or kind is None:
        return ""
    if kind != "Delete" and course.state != CourseState.PUBLISHED:
        return ""
    me = get_instance_actor()
    if kind == "Delete":
        obj: Any = {"id": course.ap_id, "type": ["redcloud:Course", "Document"]}
    else:
        obj = course_document(course)
        obj.pop("@context", None)
    activity = {
        "@context": CONTEXT,
        "id": activity_id(course, kind),
        "type": kind,
        "actor": me.ap_id,
        "object": obj,
        "published": timezone.now().isoformat().replace("+00:00", "Z"),
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [me.followers_url] if me.followers_url else [],
    }
    inboxes = _course_inboxes(course, me, importers=kind != "Create")
    with transaction.atomic():
        publish(activity, actor=me, inboxes=inboxes, object_ap_id=course.ap_id, public=True)
    return str(activity["id"])


@shared_task(name="learning.federate_course", ignore_result=True)
def federate_course_task(course_id: int, event: str) -> str:
    """Celery entry point (queue ``fanout``) of :func:`federate_course`."""
    return federate_course(course_id, event)


@registry.register_course_observer
def on_course_event(event: str, course: object) -> None:
    """Course observer: schedule the federation of a local course's change (after commit)."""
    if isinstance(course, Course) and course.local and event in ACTIVITY_TYPES:
        federate_course_task.delay(course.pk, event)


# ---------------------------------------------------------------- catalog


def remember_shared(values: dict[str, Any], publisher: Actor) -> SharedCourse:
    """Store or refresh the catalog entry of a course announced by its ``publisher``."""
    fields = {
        "publisher": publisher,
        "domain": host_of(values["ap_id"]),
        "url": values["url"],
        "title": values["title"],
        "summary": values["summary"],
        "category": values["category"],
        "language": values["language"],
        "credits": values["credits"],
        "lesson_count": len(values["lessons"]),
        "author_names": values["author_names"],
        "published": values["published"],
        "updated": values["updated"],
        "withdrawn": False,
        "received_at": timezone.now(),
    }
    row, _created = SharedCourse.objects.update_or_create(ap_id=values["ap_id"], defaults=fields)
    return row


def withdraw_shared(ap_id: str, publisher: Actor) -> int:
    """Mark the catalog entry of ``ap_id`` withdrawn (its origin archived it)."""
    return SharedCourse.objects.filter(ap_id=ap_id, publisher=publisher).update(withdrawn=True)


# ---------------------------------------------------------------- importing


def _fetch_course(url: str) -> dict[str, Any]:
    try:
        return fetch_document(url, signer=instance_signer(), max_bytes=MAX_COURSE_BYTES)
    except FetchError as exc:
        raise LearningError(
            _("The course could not be fetched: %(error)s") % {"error": exc}, code="fetch", status=502
        ) from None


def _publisher_of(values: dict[str, Any]) -> Actor:
    try:
        publisher = get_or_fetch_actor(values["publisher"])
    except ResolveError as exc:
        raise LearningError(
            _("The course's publisher could not be resolved: %(error)s") % {"error": exc.reason}, code="fetch"
        ) from None
    if publisher.type != ActorType.APPLICATION or publisher.local:
        raise LearningError(_("Courses are published by a node's instance actor."), code="invalid")
    return publisher


def _check_questions(values: dict[str, Any]) -> None:
    from learning.exams import _clean_question

    if values["exam"] is not None and values["questions"] is None:
        raise LearningError(_("The origin did not share the exam's answer keys with this node."), code="forbidden")
    for question in values["questions"] or []:
        question["choices"], question["answer"] = _clean_question(
            question["kind"], question["prompt"], question["choices"], question["answer"]
        )
    if values["exam"] is not None and len(values["questions"]) < values["exam"]["question_count"]:
        raise LearningError(_("The exam draws more questions than the bank holds."), code="invalid")


def _apply(course: Course, values: dict[str, Any]) -> None:
    """Write the lessons, attachments, exam and question bank of ``values`` into ``course``."""
    keep: list[int] = []
    for item in values["lessons"]:
        lesson, _created = Lesson.objects.update_or_create(
            course=course,
            ap_id=item["ap_id"],
            defaults={k: item[k] for k in ("title", "body", "body_html", "video_url", "position")},
        )
        keep.append(lesson.pk)
        LessonAttachment.objects.filter(lesson=lesson).delete()
        for position, att in enumerate(item["attachments"]):
            LessonAttachment.objects.create(
                lesson=lesson,
                kind=att["kind"],
                remote_url=att["url"],
                name=att["name"],
                mime_type=att["mime_type"],
                position=position,
            )
    course.lessons.exclude(pk__in=keep).delete()
    if values["questions"] is not None:
        kept: list[int] = []
        for q in values["questions"]:
            fields = {k: q[k] for k in ("kind", "prompt", "choices", "answer", "explanation", "points", "position")}
            row, _created = Question.objects.update_or_create(course=course, ap_id=q["ap_id"], defaults=fields)
            kept.append(row.pk)
        course.questions.exclude(pk__in=kept).delete()
    if values["exam"] is None:
        Exam.objects.filter(course=course).delete()
    else:
        Exam.objects.update_or_create(course=course, defaults=values["exam"])


def store_course(values: dict[str, Any], publisher: Actor, *, by: Actor | None = None) -> Course:
    """Create or refresh the local copy of a checked remote course (``parse_course`` values,
    answer keys checked) in one transaction."""
    now = timezone.now()
    fields = {k: values[k] for k in ("title", "summary", "category", "language", "credits", "author_names")}
    with transaction.atomic():
        course = Course.objects.filter(ap_id=values["ap_id"]).first()
        if course is not None and course.local:
            raise LearningError(_("This course was made on this node."), code="state", status=409)
        if course is None:
            course = Course.objects.create(
                ap_id=values["ap_id"],
                origin_ap_id=values["ap_id"],
                local=False,
                state=CourseState.PUBLISHED,
                state_changed_at=now,
                published_at=now,
                **fields,
            )
        else:
            for name, value in fields.items():
                setattr(course, name, value)
            course.save()
        _apply(course, values)
        CourseOrigin.objects.update_or_create(
            course=course,
            defaults={"publisher": publisher, "refreshed_at": now, "remote_updated": values["updated"]},
        )
        if by is not None:
            CourseOrigin.objects.filter(course=course, imported_by__isnull=True).update(imported_by=by)
        remember_shared(values, publisher)
    return course


def import_course(url: str, *, by: Actor | None = None) -> Course:
    """Copy the course at ``url`` (fetched signed by our instance actor) with its origin id and
    attribution, or refresh our copy. Raises ``LearningError`` (nothing stored) when it cannot
    be fetched, is malformed, is not published by its node's instance actor, or comes without
    the answer keys its exam needs."""
    url = (url or "").strip()
    if not url.startswith(("https://", "http://")):
        raise LearningError(_("Give the course's http(s) address."))
    if url.startswith(f"{settings.NODE_BASE_URL}/"):
        raise LearningError(_("This course was made on this node."), code="state", status=409)
    try:
        values = parse_course(_fetch_course(url))
    except CourseFormatError as exc:
        raise LearningError(_("This is not a usable course: %(error)s") % {"error": exc}) from None
    publisher = _publisher_of(values)
    _check_questions(values)
    return store_course(values, publisher, by=by)


def refresh_course(course_id: int) -> bool:
    """Fetch an imported course again from its origin and apply it; False when it is not an
    imported course or the origin cannot be read (the copy is kept as it was)."""
    origin = CourseOrigin.objects.select_related("course", "publisher").filter(course_id=course_id).first()
    if origin is None:
        return False
    try:
        values = parse_course(_fetch_course(origin.course.origin_ap_id))
        if values["publisher"] != origin.publisher.ap_id:
            return False
        _check_questions(values)
    except (LearningError, CourseFormatError):
        return False
    store_course(values, origin.publisher)
    return True


@shared_task(name="learning.refresh_course", ignore_result=True)
def refresh_course_task(course_id: int) -> bool:
    """Celery entry point of :func:`refresh_course`."""
    return refresh_course(course_id)


def schedule_refresh(course: Course) -> None:
    """Refresh ``course`` from its origin after the current transaction commits."""
    transaction.on_commit(partial(refresh_course_task.delay, course.pk))

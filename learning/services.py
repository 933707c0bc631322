"""Courses and study: the only write path for courses, lessons, attachments, enrolments,
lesson progress and group assignments, and the permission-checked readers.

Roles: an *instructor* (an ``Instructor`` row, or a staff user) creates courses and edits the
local courses they own or co-author; staff edit any local course. Imported courses (W5,
``local=False``) are read-only here: their content comes from the origin.

Observers registered in ``learning.registry`` hear ``published``/``updated``/``archived`` after
commit (W5 federates courses from there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from urllib.parse import urlsplit

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.models import Actor, ActorType
from learning import attachments, registry
from learning.errors import LearningError
from learning.markdown import render_markdown
from learning.models import (
    Course,
    CourseAssignment,
    CourseState,
    Enrolment,
    EnrolmentSource,
    Instructor,
    Lesson,
    LessonAttachment,
    LessonProgress,
)
from microblog.models import Post

COURSE_FIELDS = ("title", "summary", "category", "credits", "language")


# ---------------------------------------------------------------- roles


def _is_staff(actor: Actor | None) -> bool:
    user = getattr(actor, "user", None) if actor is not None else None
    return bool(user is not None and user.is_active and user.is_staff)


def is_instructor(actor: Actor | None) -> bool:
    """True for a local member holding the instructor role, and for staff."""
    if actor is None or not actor.local:
        return False
    return _is_staff(actor) or Instructor.objects.filter(actor=actor).exists()


def grant_instructor(actor: Actor, *, by: Actor | None = None) -> Instructor:
    """Make a local member an instructor (idempotent); ``by`` must be staff (None: the operator)."""
    if by is not None and not _is_staff(by):
        raise LearningError(_("Only staff can appoint instructors."), code="forbidden", status=403)
    if not actor.local or actor.user_id is None:
        raise LearningError(_("Only members of this node can be instructors."))
    row, _created = Instructor.objects.get_or_create(actor=actor, defaults={"granted_by": by})
    return row


def revoke_instructor(actor: Actor) -> None:
    """Remove the instructor role (courses stay)."""
    Instructor.objects.filter(actor=actor).delete()


def can_edit(actor: Actor | None, course: Course) -> bool:
    """True when ``actor`` may change ``course``: a local course, and staff, or an instructor who
    owns or co-authors it."""
    if actor is None or not course.local:
        return False
    if _is_staff(actor):
        return True
    if not is_instructor(actor):
        return False
    return course.owner_id == actor.pk or course.authors.filter(pk=actor.pk).exists()


def _require_edit(actor: Actor | None, course: Course) -> None:
    if not can_edit(actor, course):
        raise LearningError(_("You cannot edit this course."), code="forbidden", status=403)


# ---------------------------------------------------------------- readers


def visible_courses(viewer: Actor | None) -> QuerySet[Course]:
    """Courses ``viewer`` may see: published ones, plus drafts and archived ones they can edit
    (all of them for staff)."""
    published = Q(state=CourseState.PUBLISHED)
    if viewer is None or not viewer.local:
        return Course.objects.filter(published)
    if _is_staff(viewer):
        return Course.objects.all()
    return Course.objects.filter(published | Q(owner=viewer) | Q(authors=viewer)).distinct()


def catalog(*, category: str = "", query: str = "") -> QuerySet[Course]:
    """Published courses for the catalog (local and imported), newest first, of ``category``; with
    a ``query``, those holding every term of it in their title, summary, category or a lesson
    (``learning.search.search_courses``: substrings, so Chinese words are found inside phrases)."""
    if query.strip():
        from learning.search import search_courses

        return search_courses(query, category=category)
    rows = Course.objects.filter(state=CourseState.PUBLISHED)
    if category:
        rows = rows.filter(category=category)
    return rows.order_by("-published_at", "-pk")


def get_course_for(viewer: Actor | None, course_id: int) -> Course:
    """The course if ``viewer`` may see it; raises ``Course.DoesNotExist`` otherwise (same as missing)."""
    return visible_courses(viewer).get(pk=course_id)


def get_lesson_for(viewer: Actor | None, lesson_id: int) -> Lesson:
    """The lesson if ``viewer`` may see its course; raises ``Lesson.DoesNotExist`` otherwise."""
    lesson = Lesson.objects.select_related("course").get(pk=lesson_id)
    if not visible_courses(viewer).filter(pk=lesson.course_id).exists():
        raise Lesson.DoesNotExist
    return lesson


# ---------------------------------------------------------------- courses


def _clean_fields(fields: dict[str, object]) -> dict[str, object]:
    clean: dict[str, object] = {}
    for name, value in fields.items():
        if name not in COURSE_FIELDS:
            raise LearningError(_("Unknown field: %(name)s") % {"name": name})
        if name == "credits":
            try:
                number = int(value)  # type: ignore[call-overload]
            except (TypeError, ValueError):
                raise LearningError(_("Credits must be a whole number.")) from None
            if not 0 <= number <= 1000:
                raise LearningError(_("Credits must be between 0 and 1000."))
            clean[name] = number
        else:
            text = str(value or "").strip()
            limit = {"title": 200, "category": 100, "language": 16, "summary": 5000}[name]
            if len(text) > limit:
                raise LearningError(_("%(name)s is too long.") % {"name": name})
            clean[name] = text
    if "title" in clean and not clean["title"]:
        raise LearningError(_("A course needs a title."))
    return clean


def _notify(course: Course, event: str) -> None:
    transaction.on_commit(partial(registry.course_event, event, course))


def touch(course: Course) -> None:
    """Mark ``course`` changed (``updated_at``) and tell observers when it is published."""
    Course.objects.filter(pk=course.pk).update(updated_at=timezone.now())
    if course.state == CourseState.PUBLISHED:
        _notify(course, "updated")


def create_course(
    actor: Actor, *, title: str, cover: UploadedFile | None = None, authors: Sequence[Actor] = (), **fields: object
) -> Course:
    """A new draft course owned by instructor ``actor`` (an author too). Raises
    :class:`LearningError` (403 when ``actor`` is no instructor; nothing stored)."""
    if not is_instructor(actor):
        raise LearningError(_("Only instructors can create courses."), code="forbidden", status=403)
    clean = _clean_fields({"title": title, **fields})
    cover_file = attachments.check_cover(cover) if cover is not None else None
    with transaction.atomic():
        course = Course.objects.create(owner=actor, local=True, **clean)  # type: ignore[arg-type]
        course.authors.add(actor, *[a for a in authors if a.local])
        if cover_file is not None:
            course.cover.save(attachments.stored_name(cover_file[1]), ContentFile(cover_file[0]), save=True)
    return course


def update_course(actor: Actor, course: Course, *, cover: UploadedFile | None = None, **fields: object) -> Course:
    """Change a course's metadata (and cover); observers hear ``updated`` when it is published."""
    _require_edit(actor, course)
    clean = _clean_fields(fields)
    cover_file = attachments.check_cover(cover) if cover is not None else None
    with transaction.atomic():
        for name, value in clean.items():
            setattr(course, name, value)
        if cover_file is not None:
            course.cover.save(attachments.stored_name(cover_file[1]), ContentFile(cover_file[0]), save=False)
        course.save()
        if course.state == CourseState.PUBLISHED:
            _notify(course, "updated")
    return course


def set_authors(actor: Actor, course: Course, authors: Iterable[Actor]) -> None:
    """Replace the co-authors (local members); the owner always stays an author."""
    _require_edit(actor, course)
    course.authors.set([a for a in authors if a.local] + ([course.owner] if course.owner else []))
    touch(course)


def publish_course(actor: Actor, course: Course) -> Course:
    """Publish a draft (or re-publish an archived) course: it needs a lesson, and an exam's bank
    must hold enough questions. Creates the Q&A discussion post on first publication."""
    from learning import exams

    _require_edit(actor, course)
    if course.state == CourseState.PUBLISHED:
        return course
    if not course.lessons.exists():
        raise LearningError(_("A course needs at least one lesson before it is published."), code="state")
    exams.check_ready(course)
    now = timezone.now()
    with transaction.atomic():
        course.state, course.state_changed_at = CourseState.PUBLISHED, now
        course.published_at = course.published_at or now
        course.save(update_fields=["state", "state_changed_at", "published_at", "updated_at"])
        if course.discussion_id is None:
            _open_discussion(actor, course)
        _notify(course, "published")
    return course


def archive_course(actor: Actor, course: Course) -> Course:
    """Take a course out of the catalog; enrolments, progress and credits are kept."""
    _require_edit(actor, course)
    with transaction.atomic():
        course.state, course.state_changed_at = CourseState.ARCHIVED, timezone.now()
        course.save(update_fields=["state", "state_changed_at", "updated_at"])
        _notify(course, "archived")
    return course


def _open_discussion(actor: Actor, course: Course) -> None:
    from microblog.services import create_post

    text = _("Questions and answers about the course “%(title)s”. Reply here to ask.") % {"title": course.title}
    post = create_post(actor, text=text, visibility="public", language=course.language or "")
    course.discussion = post
    course.save(update_fields=["discussion"])


# ---------------------------------------------------------------- lessons and attachments


def _check_video_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise LearningError(_("A video link must be an http or https address."))
    return url


def add_lesson(actor: Actor, course: Course, *, title: str, body: str = "", video_url: str = "") -> Lesson:
    """Append a lesson (Markdown ``body`` rendered and sanitised) to a course ``actor`` edits."""
    _require_edit(actor, course)
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise LearningError(_("A lesson needs a title of at most 200 characters."))
    video = _check_video_url(video_url)
    with transaction.atomic():
        last = course.lessons.aggregate(m=Max("position"))["m"]
        lesson = Lesson.objects.create(
            course=course,
            position=0 if last is None else last + 1,
            title=title,
            body=body or "",
            body_html=render_markdown(body or ""),
            video_url=video,
        )
        lesson.ap_id = f"{course.ap_id}/lessons/{lesson.pk}"
        lesson.save(update_fields=["ap_id"])
        touch(course)
    return lesson


def update_lesson(
    actor: Actor, lesson: Lesson, *, title: str | None = None, body: str | None = None, video_url: str | None = None
) -> Lesson:
    """Change a lesson's title, text or video link; the HTML is re-rendered from the Markdown."""
    _require_edit(actor, lesson.course)
    if title is not None:
        title = title.strip()
        if not title or len(title) > 200:
            raise LearningError(_("A lesson needs a title of at most 200 characters."))
        lesson.title = title
    if body is not None:
        lesson.body, lesson.body_html = body, render_markdown(body)
    if video_url is not None:
        lesson.video_url = _check_video_url(video_url)
    with transaction.atomic():
        lesson.save()
        touch(lesson.course)
    return lesson


def move_lesson(actor: Actor, lesson: Lesson, position: int) -> None:
    """Put ``lesson`` at ``position`` (0-based) and renumber the others in order."""
    _require_edit(actor, lesson.course)
    lessons = [x for x in lesson.course.lessons.all() if x.pk != lesson.pk]
    lessons.insert(max(0, min(position, len(lessons))), lesson)
    with transaction.atomic():
        for index, item in enumerate(lessons):
            Lesson.objects.filter(pk=item.pk).update(position=index)
        touch(lesson.course)


def delete_lesson(actor: Actor, lesson: Lesson) -> None:
    """Delete a lesson with its attachments (files removed after commit)."""
    _require_edit(actor, lesson.course)
    names = [a.file.name for a in lesson.attachments.all() if a.file]
    storage = LessonAttachment._meta.get_field("file").storage  # type: ignore[attr-defined]
    with transaction.atomic():
        lesson.delete()
        touch(lesson.course)
        for name in names:
            transaction.on_commit(partial(storage.delete, str(name)))


def add_attachment(actor: Actor, lesson: Lesson, upload: UploadedFile) -> LessonAttachment:
    """Attach a checked file (video, audio, PDF, EPUB) to a lesson. Refusals raise
    :class:`LearningError` and store nothing (no row, no file)."""
    _require_edit(actor, lesson.course)
    kind, mime, ext, data = attachments.check_attachment(upload)
    item = LessonAttachment(
        lesson=lesson,
        kind=kind,
        mime_type=mime,
        size=len(data),
        sha256=attachments.digest(data),
        name=attachments.clean_name(getattr(upload, "name", "") or "", ext),
        position=lesson.attachments.count(),
    )
    item.file.save(attachments.stored_name(ext), ContentFile(data), save=False)
    try:
        with transaction.atomic():
            item.save()
            touch(lesson.course)
    except BaseException:
        item.file.storage.delete(str(item.file.name))
        raise
    return item


def delete_attachment(actor: Actor, item: LessonAttachment) -> None:
    """Remove an attachment and its file."""
    _require_edit(actor, item.lesson.course)
    name = item.file.name if item.file else ""
    with transaction.atomic():
        item.delete()
        touch(item.lesson.course)
        if name:
            transaction.on_commit(partial(item.file.storage.delete, str(name)))


# ---------------------------------------------------------------- study


def enrolment_of(actor: Actor | None, course: Course) -> Enrolment | None:
    """``actor``'s enrolment in ``course``, or None."""
    if actor is None:
        return None
    return Enrolment.objects.filter(course=course, actor=actor).first()


def enrol(
    actor: Actor, course: Course, *, source: str = EnrolmentSource.SELF, assignment: CourseAssignment | None = None
) -> Enrolment:
    """Enrol a local member in a published course (idempotent; an assignment is recorded on an
    existing self enrolment too)."""
    if not actor.local or actor.type != ActorType.PERSON:
        raise LearningError(_("Members study on their own node."), code="forbidden", status=403)
    if course.state != CourseState.PUBLISHED:
        raise LearningError(_("This course is not open for study."), code="state")
    try:
        with transaction.atomic():
            row, created = Enrolment.objects.get_or_create(
                course=course, actor=actor, defaults={"source": source, "assignment": assignment}
            )
    except IntegrityError:  # a concurrent enrolment won
        row, created = Enrolment.objects.get(course=course, actor=actor), False
    if not created and assignment is not None and row.assignment_id is None:
        row.assignment = assignment
        row.save(update_fields=["assignment"])
    return row


def _require_enrolment(actor: Actor, course: Course) -> Enrolment:
    row = enrolment_of(actor, course)
    if row is None:
        raise LearningError(_("Enrol in the course first."), code="state", status=403)
    return row


def open_lesson(actor: Actor, lesson: Lesson) -> Enrolment | None:
    """Remember ``lesson`` as the place to resume (for an enrolled member; None otherwise)."""
    row = enrolment_of(actor, lesson.course)
    if row is not None:
        row.last_lesson, row.last_seen_at = lesson, timezone.now()
        row.save(update_fields=["last_lesson", "last_seen_at"])
    return row


def complete_lesson(actor: Actor, lesson: Lesson) -> Enrolment:
    """Record ``lesson`` as completed (idempotent). When every lesson is done the course's
    lessons are complete; a course without an exam is then completed and its credits awarded."""
    from learning import credits

    row = _require_enrolment(actor, lesson.course)
    with transaction.atomic():
        LessonProgress.objects.get_or_create(enrolment=row, lesson=lesson)
        row.last_lesson, row.last_seen_at = lesson, timezone.now()
        row.save(update_fields=["last_lesson", "last_seen_at"])
        if row.lessons_completed_at is None and progress_percent(row) == 100:
            row.lessons_completed_at = timezone.now()
            row.save(update_fields=["lessons_completed_at"])
            if not has_exam(lesson.course):
                credits.complete_course(row, reason="completion")
    return row


def has_exam(course: Course) -> bool:
    """True when the course has an exam."""
    return hasattr(course, "exam") and course.exam is not None


def progress_percent(enrolment: Enrolment) -> int:
    """Whole percent of the course's current lessons the member has completed."""
    total = enrolment.course.lessons.count()
    if total == 0:
        return 0
    done = LessonProgress.objects.filter(enrolment=enrolment, lesson__course=enrolment.course).count()
    return min(100, done * 100 // total)


def completed_lesson_ids(enrolment: Enrolment | None) -> set[int]:
    """Ids of the lessons the member has completed."""
    if enrolment is None:
        return set()
    return set(LessonProgress.objects.filter(enrolment=enrolment).values_list("lesson_id", flat=True))


def resume_lesson(enrolment: Enrolment) -> Lesson | None:
    """Where to continue: the last lesson opened, else the first not completed, else the first."""
    if enrolment.last_lesson_id is not None:
        return enrolment.last_lesson
    done = completed_lesson_ids(enrolment)
    lessons = list(enrolment.course.lessons.all())
    return next((x for x in lessons if x.pk not in done), lessons[0] if lessons else None)


# ---------------------------------------------------------------- Q&A


def ask_question(actor: Actor, course: Course, text: str) -> Post:
    """Post a question to the course's Q&A thread: a public reply to its discussion post (answers
    are replies too, federated like any reply)."""
    from microblog.services import PostError, create_post

    if course.discussion is None:
        raise LearningError(_("This course has no discussion yet."), code="state")
    try:
        return create_post(actor, text=text, visibility="public", in_reply_to=course.discussion)
    except PostError as exc:
        raise LearningError(str(exc)) from None


def discussion_posts(viewer: Actor | None, course: Course) -> QuerySet:
    """Visible posts of the course's Q&A thread (the discussion's conversation), oldest first."""
    from microblog.services import visible_posts

    if course.discussion is None:
        return visible_posts(viewer).none()
    return (
        visible_posts(viewer)
        .filter(conversation=course.discussion.conversation)
        .exclude(pk=course.discussion.pk)
        .select_related("author")
        .order_by("published_at", "pk")
    )

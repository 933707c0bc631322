"""Client API of the network classroom under ``/api/v1/learning`` (Redcloud extension, documented
in ``docs/openapi.yaml``). Errors follow the Mastodon API shape ``{"error": ...}``.

Exam rules visible here: an attempt's JSON carries no answer keys until it is submitted; clients
submit ``answers`` only (a body with a score or pass flag is refused with 422); the server grades.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from federation.models import Actor, ActorType
from learning import assignments, credits, exams, services
from learning.errors import LearningError
from learning.models import Course, Enrolment, Exam, Lesson
from microblog.api import errors
from microblog.api.auth import api_view, param_int, param_str

READ, WRITE = "read", "write"


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _fail(exc: LearningError) -> errors.ApiError:
    return errors.ApiError(exc.message, exc.status, code=exc.code)


def _actor(request: HttpRequest) -> Actor:
    actor = request.actor  # type: ignore[attr-defined]
    if actor is None:
        raise errors.ApiError(errors.USER_REQUIRED, 422)
    return actor


def course_json(course: Course, *, viewer: Actor | None, full: bool = False) -> dict[str, Any]:
    """A course as the API shows it; ``full`` adds lessons, the exam's settings and the viewer's
    enrolment. Never contains answer keys."""
    data: dict[str, Any] = {
        "id": str(course.pk),
        "ap_id": course.ap_id,
        "local": course.local,
        "title": course.title,
        "summary": course.summary,
        "category": course.category,
        "credits": course.credits,
        "language": course.language,
        "state": course.state,
        "cover_url": course.cover.url if course.cover else None,
        "authors": [a.username if a.local else f"{a.username}@{a.domain}" for a in course.authors.all()],
        "author_names": course.author_names,
        "published_at": _iso(course.published_at),
        "updated_at": _iso(course.updated_at),
        "discussion_id": str(course.discussion_id) if course.discussion_id else None,
    }
    if full:
        enrolment = services.enrolment_of(viewer, course)
        done = services.completed_lesson_ids(enrolment)
        data["lessons"] = [
            {"id": str(x.pk), "title": x.title, "position": x.position, "completed": x.pk in done}
            for x in course.lessons.all()
        ]
        exam = Exam.objects.filter(course=course).first()
        data["exam"] = (
            {
                "question_count": exam.question_count,
                "time_limit_minutes": exam.time_limit_minutes,
                "max_attempts": exam.max_attempts,
                "pass_mark": exam.pass_mark,
                "attempts_left": exams.attempts_left(viewer, exam) if viewer else None,
            }
            if exam
            else None
        )
        data["enrolment"] = enrolment_json(enrolment) if enrolment else None
        data["can_edit"] = services.can_edit(viewer, course)
    return data


def enrolment_json(row: Enrolment) -> dict[str, Any]:
    """A member's enrolment: source, progress percent, where to resume, completion."""
    resume = services.resume_lesson(row)
    return {
        "course_id": str(row.course_id),
        "source": row.source,
        "progress": services.progress_percent(row),
        "resume_lesson_id": str(resume.pk) if resume else None,
        "enrolled_at": _iso(row.enrolled_at),
        "completed_at": _iso(row.completed_at),
        "deadline": _iso(row.assignment.deadline) if row.assignment else None,
    }


def lesson_json(lesson: Lesson) -> dict[str, Any]:
    """A lesson with its sanitised HTML, video link and attachments."""
    return {
        "id": str(lesson.pk),
        "course_id": str(lesson.course_id),
        "title": lesson.title,
        "position": lesson.position,
        "html": lesson.body_html,
        "video_url": lesson.video_url or None,
        "attachments": [
            {
                "id": str(a.pk),
                "kind": a.kind,
                "name": a.name,
                "mime_type": a.mime_type,
                "size": a.size,
                "url": a.file.url if a.file else a.remote_url,
            }
            for a in lesson.attachments.all()
        ],
    }


def _course(request: HttpRequest, course_id: int) -> Course:
    return services.get_course_for(request.actor, course_id)  # type: ignore[attr-defined]


@api_view({"GET": None, "POST": WRITE}, methods=("GET", "POST"))
def courses(request: HttpRequest) -> Any:
    """GET: the catalog (``category``, ``q``, ``limit``); POST: create a draft course (instructors)."""
    params = request.params  # type: ignore[attr-defined]
    if request.method == "POST":
        try:
            course = services.create_course(
                _actor(request),
                title=param_str(params.get("title")),
                cover=request.FILES.get("cover"),
                **{k: params[k] for k in ("summary", "category", "credits", "language") if k in params},
            )
        except LearningError as exc:
            raise _fail(exc) from None
        return course_json(course, viewer=request.actor, full=True)  # type: ignore[attr-defined]
    limit = min(max(param_int(params.get("limit"), 40) or 40, 1), 200)
    rows = services.catalog(category=param_str(params.get("category")), query=param_str(params.get("q"))[:100])
    return [course_json(c, viewer=request.actor) for c in rows.prefetch_related("authors")[:limit]]  # type: ignore[attr-defined]


@api_view({"GET": None, "PATCH": WRITE}, methods=("GET", "PATCH"))
def course(request: HttpRequest, course_id: int) -> Any:
    """GET one course (with lessons, exam settings, the viewer's enrolment); PATCH its metadata."""
    row = _course(request, course_id)
    if request.method == "PATCH":
        params = request.params  # type: ignore[attr-defined]
        fields = {k: params[k] for k in services.COURSE_FIELDS if k in params}
        try:
            row = services.update_course(_actor(request), row, **fields)
        except LearningError as exc:
            raise _fail(exc) from None
    return course_json(row, viewer=request.actor, full=True)  # type: ignore[attr-defined]


@api_view(WRITE, methods=("POST",))
def course_action(request: HttpRequest, course_id: int, action: str) -> Any:
    """POST ``publish``, ``archive`` or ``enrol``."""
    row = _course(request, course_id)
    actor = _actor(request)
    try:
        if action == "publish":
            services.publish_course(actor, row)
        elif action == "archive":
            services.archive_course(actor, row)
        elif action == "enrol":
            services.enrol(actor, row)
        else:
            raise errors.NotFound()
    except LearningError as exc:
        raise _fail(exc) from None
    row.refresh_from_db()
    return course_json(row, viewer=actor, full=True)


@api_view(WRITE, methods=("POST",))
def lessons(request: HttpRequest, course_id: int) -> Any:
    """POST a lesson (``title``, ``body`` Markdown, ``video_url``) to a course the caller edits."""
    params = request.params  # type: ignore[attr-defined]
    try:
        lesson = services.add_lesson(
            _actor(request),
            _course(request, course_id),
            title=param_str(params.get("title")),
            body=param_str(params.get("body")),
            video_url=param_str(params.get("video_url")),
        )
    except LearningError as exc:
        raise _fail(exc) from None
    return lesson_json(lesson)


@api_view({"GET": None, "PATCH": WRITE}, methods=("GET", "PATCH"))
def lesson(request: HttpRequest, lesson_id: int) -> Any:
    """GET a lesson (remembered as the place to resume for an enrolled caller); PATCH it."""
    row = services.get_lesson_for(request.actor, lesson_id)  # type: ignore[attr-defined]
    actor = request.actor  # type: ignore[attr-defined]
    if request.method == "PATCH":
        params = request.params  # type: ignore[attr-defined]
        try:
            row = services.update_lesson(
                _actor(request),
                row,
                **{k: param_str(params[k]) for k in ("title", "body", "video_url") if k in params},
            )
        except LearningError as exc:
            raise _fail(exc) from None
    elif actor is not None:
        services.open_lesson(actor, row)
    return lesson_json(row)


@api_view(WRITE, methods=("POST",))
def lesson_complete(request: HttpRequest, lesson_id: int) -> Any:
    """POST: mark a lesson completed; answers the enrolment with its progress."""
    row = services.get_lesson_for(request.actor, lesson_id)  # type: ignore[attr-defined]
    try:
        enrolment = services.complete_lesson(_actor(request), row)
    except LearningError as exc:
        raise _fail(exc) from None
    return enrolment_json(enrolment)


@api_view(WRITE, methods=("POST",))
def lesson_attachments(request: HttpRequest, lesson_id: int) -> Any:
    """POST ``file`` (multipart): attach a video, audio, PDF or EPUB checked by content."""
    row = services.get_lesson_for(request.actor, lesson_id)  # type: ignore[attr-defined]
    upload = request.FILES.get("file")
    if upload is None:
        raise errors.ValidationFailed("File is missing")
    try:
        services.add_attachment(_actor(request), row, upload)
    except LearningError as exc:
        raise _fail(exc) from None
    return lesson_json(row)


@api_view({"GET": WRITE, "POST": WRITE}, methods=("GET", "POST"))
def questions(request: HttpRequest, course_id: int) -> Any:
    """The question bank, for the course's editors only (it holds the answer keys): GET lists,
    POST adds (``kind``, ``prompt``, ``choices``, ``answer``, ``explanation``, ``points``)."""
    row = _course(request, course_id)
    actor = _actor(request)
    if not services.can_edit(actor, row):
        raise errors.Forbidden()
    if request.method == "POST":
        params = request.params  # type: ignore[attr-defined]
        try:
            exams.add_question(
                actor,
                row,
                kind=param_str(params.get("kind")),
                prompt=param_str(params.get("prompt")),
                choices=params.get("choices") or [],
                answer=params.get("answer"),
                explanation=param_str(params.get("explanation")),
                points=param_int(params.get("points"), 1) or 1,
            )
        except LearningError as exc:
            raise _fail(exc) from None
    return [
        {**exams.question_to_json(q), "answer": q.answer, "explanation": q.explanation} for q in row.questions.all()
    ]


@api_view(WRITE, methods=("PUT",))
def exam_settings(request: HttpRequest, course_id: int) -> Any:
    """PUT the exam's settings (``question_count``, ``pass_mark``, ``time_limit_minutes``, ``max_attempts``)."""
    params = request.params  # type: ignore[attr-defined]
    try:
        exam = exams.set_exam(
            _actor(request),
            _course(request, course_id),
            question_count=param_int(params.get("question_count"), 10) or 10,
            pass_mark=param_int(params.get("pass_mark"), 60) or 0,
            time_limit_minutes=param_int(params.get("time_limit_minutes")),
            max_attempts=param_int(params.get("max_attempts")),
        )
    except (LearningError, ValueError) as exc:
        raise _fail(exc) if isinstance(exc, LearningError) else errors.ValidationFailed(str(exc)) from None
    return {
        "question_count": exam.question_count,
        "pass_mark": exam.pass_mark,
        "time_limit_minutes": exam.time_limit_minutes,
        "max_attempts": exam.max_attempts,
    }


@api_view(WRITE, methods=("POST",))
def start_attempt(request: HttpRequest, course_id: int) -> Any:
    """POST: start (or resume) an attempt at the course's exam; no answer keys in the answer."""
    row = _course(request, course_id)
    exam = Exam.objects.filter(course=row).first()
    if exam is None:
        raise errors.NotFound()
    try:
        attempt = exams.start_attempt(_actor(request), exam)
    except LearningError as exc:
        raise _fail(exc) from None
    return exams.attempt_to_json(attempt)


@api_view(READ)
def attempt(request: HttpRequest, attempt_id: int) -> Any:
    """GET the caller's own attempt (keys only once submitted)."""
    return exams.attempt_to_json(exams.get_attempt_for(_actor(request), attempt_id))


@api_view(WRITE, methods=("POST",))
def submit_attempt(request: HttpRequest, attempt_id: int) -> Any:
    """POST ``answers`` (question id -> answer): graded by the server. Any grading field in the
    body (``score``, ``passed``, ...) is refused with 422 and nothing is stored."""
    actor = _actor(request)
    row = exams.get_attempt_for(actor, attempt_id)
    params = request.params  # type: ignore[attr-defined]
    if exams.FORGED_KEYS & {str(k).lower() for k in params}:
        raise errors.ApiError("Clients send answers, never grades", 422, code="forged")
    try:
        graded = exams.submit_attempt(actor, row, params.get("answers") or {})
    except LearningError as exc:
        raise _fail(exc) from None
    return exams.attempt_to_json(graded)


@api_view(WRITE, methods=("POST",))
def assign(request: HttpRequest, course_id: int) -> Any:
    """POST ``group_id`` (the group's account id) and ``deadline`` (ISO 8601): assign the course."""
    params = request.params  # type: ignore[attr-defined]
    group = Actor.objects.filter(pk=param_int(params.get("group_id"), 0) or 0, type=ActorType.GROUP).first()
    deadline = parse_datetime(param_str(params.get("deadline")))
    if group is None or deadline is None:
        raise errors.ValidationFailed("group_id and deadline are required")
    try:
        row = assignments.assign_course(_actor(request), _course(request, course_id), group, deadline=deadline)
    except LearningError as exc:
        raise _fail(exc) from None
    return {
        "course_id": str(row.course_id),
        "group_id": str(row.group_actor_id),
        "deadline": _iso(row.deadline),
        **credits.assignment_status(row),
    }


@api_view(WRITE, methods=("POST",))
def ask(request: HttpRequest, course_id: int) -> Any:
    """POST ``status``: a question in the course's Q&A thread (a reply to its discussion post)."""
    from microblog.api import serializers

    actor = _actor(request)
    try:
        post = services.ask_question(actor, _course(request, course_id), param_str(request.params.get("status")))  # type: ignore[attr-defined]
    except LearningError as exc:
        raise _fail(exc) from None
    return serializers.status(post, viewer=actor)


@api_view(READ)
def me(request: HttpRequest) -> Any:
    """The caller's learning: enrolments with progress, credits by year and the ledger."""
    actor = _actor(request)
    rows = Enrolment.objects.filter(actor=actor).select_related("course", "assignment").order_by("-enrolled_at")
    return {
        "enrolments": [{**enrolment_json(r), "title": r.course.title} for r in rows],
        "credits_by_year": [{"year": y, "credits": c} for y, c in credits.totals_by_year(actor)],
        "ledger": [
            {
                "course_id": str(e.course_id) if e.course_id else None,
                "title": e.course_title,
                "credits": e.credits,
                "reason": e.reason,
                "year": e.year,
                "awarded_at": _iso(e.awarded_at),
            }
            for e in credits.ledger(actor)
        ],
    }


def _report_json(report: dict[str, Any]) -> dict[str, Any]:
    def row(r: dict[str, Any]) -> dict[str, Any]:
        return {k: r[k] for k in ("handle", "name", "credits", "courses")}

    data = {k: report[k] for k in ("year", "members", "total", "average")}
    data["leaderboard"] = [row(r) for r in report["leaderboard"]]
    data["rows"] = [row(r) for r in report["rows"]]
    if "overdue" in report:
        data["overdue"] = [
            {
                "course_id": str(i["course"].pk),
                "title": i["course"].title,
                "deadline": _iso(i["deadline"]),
                "members": [m.username if m.local else f"{m.username}@{m.domain}" for m in i["members"]],
            }
            for i in report["overdue"]
        ]
    return data


def _csv(text: str, name: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@api_view(READ)
def node_report(request: HttpRequest) -> Any:
    """Staff only: this node's credits in ``year`` (``format=csv`` for a spreadsheet)."""
    user = request.user
    if not (user.is_authenticated and user.is_staff):
        raise errors.Forbidden()
    report = credits.node_report(year=param_int(request.params.get("year")))  # type: ignore[attr-defined]
    if request.params.get("format") == "csv":  # type: ignore[attr-defined]
        return _csv(credits.report_csv(report), f"credits-{report['year']}")
    return _report_json(report)


@api_view(READ)
def group_report(request: HttpRequest, group_id: int) -> Any:
    """The group's officers (and staff): credits of its members in ``year``, overdue assignments
    (``format=csv``: members; ``format=overdue.csv``: overdue members)."""
    from learning import registry

    actor = _actor(request)
    group = Actor.objects.filter(pk=group_id, type=ActorType.GROUP).first()
    if group is None:
        raise errors.NotFound()
    if not (request.user.is_staff or registry.is_group_officer(actor, group)):
        raise errors.Forbidden()
    report = credits.group_report(group, year=param_int(request.params.get("year")))  # type: ignore[attr-defined]
    fmt = request.params.get("format")  # type: ignore[attr-defined]
    if fmt == "csv":
        return _csv(credits.report_csv(report), f"credits-{group.username}-{report['year']}")
    if fmt == "overdue.csv":
        return _csv(credits.overdue_csv(report["overdue"]), f"overdue-{group.username}-{timezone.localdate()}")
    return _report_json(report)

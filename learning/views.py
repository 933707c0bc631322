"""HTML pages of the network classroom: catalog, course page, lesson reader (mobile-first), exam
and attempt pages, my learning, instructors' editing page and officers' reports.

Exam pages never carry answer keys before submission: the attempt form is built from prompts and
choices only, and the server grades what the form sends.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from federation.models import Actor, ActorType
from learning import assignments, credits, exams, registry, services
from learning.errors import LearningError
from learning.models import AttemptState, Course, CourseAssignment, Enrolment, Exam, ExamAttempt, Lesson, QuestionKind


def viewer_actor(request: HttpRequest) -> Actor | None:
    """The signed-in member's actor, or None."""
    if not request.user.is_authenticated:
        return None
    return Actor.objects.filter(user=request.user, local=True).first()


def _course_or_404(viewer: Actor | None, course_id: int) -> Course:
    try:
        return services.get_course_for(viewer, course_id)
    except Course.DoesNotExist as exc:
        raise Http404 from exc


def _lesson_or_404(viewer: Actor | None, lesson_id: int) -> Lesson:
    try:
        return services.get_lesson_for(viewer, lesson_id)
    except Lesson.DoesNotExist as exc:
        raise Http404 from exc


@require_GET
def catalog(request: HttpRequest) -> HttpResponse:
    """Published courses, by category and title search."""
    category = request.GET.get("category", "")[:100]
    query = request.GET.get("q", "")[:100]
    rows = list(services.catalog(category=category, query=query).prefetch_related("authors")[:200])
    categories = sorted({c for c in Course.objects.filter(state="published").values_list("category", flat=True) if c})
    viewer = viewer_actor(request)
    return render(
        request,
        "learning/catalog.html",
        {
            "courses": rows,
            "category": category,
            "query": query,
            "categories": categories,
            "is_instructor": services.is_instructor(viewer),
        },
    )


@require_GET
def course_page(request: HttpRequest, course_id: int) -> HttpResponse:
    """A course: summary, lessons with the viewer's progress, exam, Q&A thread."""
    viewer = viewer_actor(request)
    course = _course_or_404(viewer, course_id)
    enrolment = services.enrolment_of(viewer, course)
    exam = Exam.objects.filter(course=course).first()
    return render(
        request,
        "learning/course.html",
        {
            "course": course,
            "lessons": list(course.lessons.all()),
            "done": services.completed_lesson_ids(enrolment),
            "enrolment": enrolment,
            "progress": services.progress_percent(enrolment) if enrolment else 0,
            "resume": services.resume_lesson(enrolment) if enrolment else None,
            "exam": exam,
            "attempts_left": exams.attempts_left(viewer, exam) if exam and viewer else None,
            "can_edit": services.can_edit(viewer, course),
            "posts": list(services.discussion_posts(viewer, course)[:100]),
        },
    )


@login_required
@require_POST
def enrol(request: HttpRequest, course_id: int) -> HttpResponse:
    """Self-enrol in a course from the catalog."""
    viewer = viewer_actor(request)
    course = _course_or_404(viewer, course_id)
    try:
        services.enrol(viewer, course)  # type: ignore[arg-type]
    except LearningError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(reverse("learning_course", args=[course.pk]))


@login_required
@require_POST
def ask(request: HttpRequest, course_id: int) -> HttpResponse:
    """Post a question to the course's Q&A thread."""
    viewer = viewer_actor(request)
    course = _course_or_404(viewer, course_id)
    try:
        services.ask_question(viewer, course, request.POST.get("text", ""))  # type: ignore[arg-type]
    except LearningError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(reverse("learning_course", args=[course.pk]) + "#qa")


@require_GET
def lesson_page(request: HttpRequest, lesson_id: int) -> HttpResponse:
    """The lesson reader: sanitised text, video link, attachments, previous/next, completion."""
    viewer = viewer_actor(request)
    lesson = _lesson_or_404(viewer, lesson_id)
    enrolment = services.open_lesson(viewer, lesson) if viewer else None
    lessons = list(lesson.course.lessons.all())
    index = [x.pk for x in lessons].index(lesson.pk)
    return render(
        request,
        "learning/lesson.html",
        {
            "lesson": lesson,
            "course": lesson.course,
            "enrolment": enrolment,
            "completed": lesson.pk in services.completed_lesson_ids(enrolment),
            "previous": lessons[index - 1] if index > 0 else None,
            "next": lessons[index + 1] if index + 1 < len(lessons) else None,
            "number": index + 1,
            "total": len(lessons),
        },
    )


@login_required
@require_POST
def complete_lesson(request: HttpRequest, lesson_id: int) -> HttpResponse:
    """Mark the lesson completed and go on to the next one (or back to the course)."""
    viewer = viewer_actor(request)
    lesson = _lesson_or_404(viewer, lesson_id)
    try:
        services.complete_lesson(viewer, lesson)  # type: ignore[arg-type]
    except LearningError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("learning_lesson", args=[lesson.pk]))
    following = lesson.course.lessons.filter(position__gt=lesson.position).first()
    if following is not None:
        return HttpResponseRedirect(reverse("learning_lesson", args=[following.pk]))
    return HttpResponseRedirect(reverse("learning_course", args=[lesson.course_id]))


@login_required
@require_http_methods(["GET", "POST"])
def exam_page(request: HttpRequest, course_id: int) -> HttpResponse:
    """The exam's rules and past attempts (GET); POST starts or resumes an attempt."""
    viewer = viewer_actor(request)
    course = _course_or_404(viewer, course_id)
    exam = Exam.objects.filter(course=course).first()
    if exam is None:
        raise Http404
    if request.method == "POST":
        try:
            attempt = exams.start_attempt(viewer, exam)  # type: ignore[arg-type]
        except LearningError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("learning_exam", args=[course.pk]))
        return HttpResponseRedirect(reverse("learning_attempt", args=[attempt.pk]))
    past = ExamAttempt.objects.filter(exam=exam, actor=viewer).order_by("-number")
    return render(
        request,
        "learning/exam.html",
        {
            "course": course,
            "exam": exam,
            "attempts": past,
            "attempts_left": exams.attempts_left(viewer, exam),  # type: ignore[arg-type]
            "enrolment": services.enrolment_of(viewer, course),
        },
    )


def _form_answers(request: HttpRequest, attempt: ExamAttempt) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for question in exams.attempt_questions(attempt):
        name = f"q{question.pk}"
        if question.kind == QuestionKind.MULTIPLE:
            values = request.POST.getlist(name)
            if values:
                answers[str(question.pk)] = values
        elif name in request.POST:
            answers[str(question.pk)] = request.POST[name]
    return answers


@login_required
@require_http_methods(["GET", "POST"])
def attempt_page(request: HttpRequest, attempt_id: int) -> HttpResponse:
    """A running attempt as a form without answer keys (GET), its submission (POST), and once
    submitted the graded result with the keys."""
    viewer = viewer_actor(request)
    try:
        attempt = exams.get_attempt_for(viewer, attempt_id)
    except ExamAttempt.DoesNotExist as exc:
        raise Http404 from exc
    status = 200
    if request.method == "POST":
        if exams.FORGED_KEYS & {k.lower() for k in request.POST}:
            messages.error(request, _("Clients send answers, never grades."))
            status = 422
        else:
            try:
                attempt = exams.submit_attempt(viewer, attempt, _form_answers(request, attempt))  # type: ignore[arg-type]
                return HttpResponseRedirect(reverse("learning_attempt", args=[attempt.pk]))
            except LearningError as exc:
                messages.error(request, exc.message)
                status = exc.status
                attempt.refresh_from_db()
    data = exams.attempt_to_json(attempt)
    return render(
        request,
        "learning/attempt.html",
        {
            "attempt": attempt,
            "data": data,
            "course": attempt.exam.course,
            "running": attempt.state == AttemptState.IN_PROGRESS,
        },
        status=status,
    )


@login_required
@require_GET
def my_learning(request: HttpRequest) -> HttpResponse:
    """The member's courses with progress and resume links, assignments, credits by year, ledger."""
    viewer = viewer_actor(request)
    if viewer is None:
        raise PermissionDenied
    rows = []
    for enrolment in (
        Enrolment.objects.filter(actor=viewer).select_related("course", "assignment").order_by("-enrolled_at")
    ):
        rows.append(
            {
                "enrolment": enrolment,
                "course": enrolment.course,
                "progress": services.progress_percent(enrolment),
                "resume": services.resume_lesson(enrolment),
            }
        )
    return render(
        request,
        "learning/me.html",
        {"rows": rows, "by_year": credits.totals_by_year(viewer), "ledger": credits.ledger(viewer)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def new_course(request: HttpRequest) -> HttpResponse:
    """Instructors create a draft course."""
    viewer = viewer_actor(request)
    if not services.is_instructor(viewer):
        raise PermissionDenied
    error = ""
    if request.method == "POST":
        try:
            course = services.create_course(
                viewer,  # type: ignore[arg-type]
                title=request.POST.get("title", ""),
                cover=request.FILES.get("cover"),
                summary=request.POST.get("summary", ""),
                category=request.POST.get("category", ""),
                language=request.POST.get("language", ""),
                credits=request.POST.get("credits") or 0,
            )
            return HttpResponseRedirect(reverse("learning_edit_course", args=[course.pk]))
        except LearningError as exc:
            error = exc.message
    return render(request, "learning/new.html", {"error": error, "values": request.POST}, status=422 if error else 200)


def _edit_action(viewer: Actor, course: Course, request: HttpRequest) -> None:
    post = request.POST
    action = post.get("action", "")
    if action == "details":
        services.update_course(
            viewer, course, cover=request.FILES.get("cover"), **{k: post.get(k, "") for k in services.COURSE_FIELDS}
        )
    elif action == "lesson":
        services.add_lesson(
            viewer, course, title=post.get("title", ""), body=post.get("body", ""), video_url=post.get("video_url", "")
        )
    elif action == "attachment":
        lesson = course.lessons.filter(pk=post.get("lesson") or 0).first()
        upload = request.FILES.get("file")
        if lesson is None or upload is None:
            raise LearningError(_("Choose a lesson and a file."))
        services.add_attachment(viewer, lesson, upload)
    elif action == "question":
        kind = post.get("kind", "")
        choices = [c for c in post.get("choices", "").splitlines() if c.strip()]
        raw = post.get("answer", "").strip()
        answer: Any = raw
        if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            answer = [x.strip() for x in raw.split(",") if x.strip()]
        elif kind == QuestionKind.TRUE_FALSE:
            answer = raw.lower() in ("true", "1", "yes", "对", "是")
        elif kind == QuestionKind.FILL:
            answer = [x for x in raw.split("|") if x.strip()]
        exams.add_question(
            viewer,
            course,
            kind=kind,
            prompt=post.get("prompt", ""),
            choices=choices,
            answer=answer,
            explanation=post.get("explanation", ""),
        )
    elif action == "exam":

        def number(name: str) -> int | None:
            value = post.get(name, "").strip()
            return int(value) if value.isdigit() else None

        exams.set_exam(
            viewer,
            course,
            question_count=number("question_count") or 1,
            pass_mark=number("pass_mark") or 0,
            time_limit_minutes=number("time_limit_minutes"),
            max_attempts=number("max_attempts"),
        )
    elif action == "publish":
        services.publish_course(viewer, course)
    elif action == "archive":
        services.archive_course(viewer, course)
    else:
        raise LearningError(_("Unknown action."))


@login_required
@require_http_methods(["GET", "POST"])
def edit_course(request: HttpRequest, course_id: int) -> HttpResponse:
    """The instructor's page: details, lessons, attachments, question bank, exam, publication."""
    viewer = viewer_actor(request)
    course = _course_or_404(viewer, course_id)
    if not services.can_edit(viewer, course):
        raise PermissionDenied
    status = 200
    if request.method == "POST":
        try:
            _edit_action(viewer, course, request)  # type: ignore[arg-type]
            messages.success(request, _("Saved."))
            return HttpResponseRedirect(reverse("learning_edit_course", args=[course.pk]))
        except LearningError as exc:
            messages.error(request, exc.message)
            status = 422
        course.refresh_from_db()
    return render(
        request,
        "learning/edit.html",
        {
            "course": course,
            "lessons": list(course.lessons.prefetch_related("attachments")),
            "questions": list(course.questions.all()),
            "exam": Exam.objects.filter(course=course).first(),
            "kinds": QuestionKind.choices,
        },
        status=status,
    )


def _csv_response(text: str, name: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _year(request: HttpRequest) -> int | None:
    value = request.GET.get("year", "")
    return int(value) if value.isdigit() and 2000 <= int(value) <= 2100 else None


@login_required
@require_GET
def node_report(request: HttpRequest) -> HttpResponse:
    """Staff: the node's credits this year (or ``year``), leaderboard, averages; CSV export."""
    if not request.user.is_staff:
        raise PermissionDenied
    report = credits.node_report(year=_year(request))
    if request.GET.get("format") == "csv":
        return _csv_response(credits.report_csv(report), f"credits-{report['year']}")
    return render(request, "learning/report.html", {"report": report, "group": None})


@login_required
@require_http_methods(["GET", "POST"])
def group_report(request: HttpRequest, group_id: int) -> HttpResponse:
    """A group's officers: members' credits, overdue assignments (CSV), and assigning a course."""
    viewer = viewer_actor(request)
    group = Actor.objects.filter(pk=group_id, type=ActorType.GROUP).first()
    if group is None:
        raise Http404
    if not (request.user.is_staff or registry.is_group_officer(viewer, group)):
        raise PermissionDenied
    if request.method == "POST":
        course = Course.objects.filter(pk=request.POST.get("course") or 0).first()
        deadline = parse_datetime(request.POST.get("deadline", ""))
        try:
            if course is None or deadline is None:
                raise LearningError(_("Choose a course and a deadline."))
            assignments.assign_course(viewer, course, group, deadline=deadline)  # type: ignore[arg-type]
            messages.success(request, _("The course was assigned."))
        except LearningError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("learning_group_report", args=[group.pk]))
    report = credits.group_report(group, year=_year(request))
    fmt = request.GET.get("format")
    if fmt == "csv":
        return _csv_response(credits.report_csv(report), f"credits-{group.username}-{report['year']}")
    if fmt == "overdue":
        return _csv_response(credits.overdue_csv(report["overdue"]), f"overdue-{group.username}")
    rows = [
        (a, credits.assignment_status(a))
        for a in CourseAssignment.objects.filter(group_actor=group).select_related("course")
    ]
    return render(
        request,
        "learning/report.html",
        {"report": report, "group": group, "assignments": rows, "courses": services.catalog()[:200]},
    )

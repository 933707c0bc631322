"""Question banks, exams, attempts and automatic grading.

Rules the server enforces, whatever a client sends:
- answer keys never leave the server before an attempt is submitted: :func:`attempt_to_json`
  without ``reveal`` and the exam page carry prompts and choices only;
- an attempt draws ``question_count`` questions at random from the course's bank;
- the time limit is checked at submission (``deadline_at`` plus a small network grace,
  ``LEARNING_EXAM_GRACE_SECONDS``); a late submission is refused and its answers are not kept;
- the attempt limit counts every attempt started;
- clients submit answers only: a submission carrying a score, points or a pass flag is refused,
  and the grade is always computed here.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.models import Actor
from learning import services
from learning.errors import LearningError
from learning.models import AttemptState, Course, Exam, ExamAttempt, Question, QuestionKind

FORGED_KEYS = frozenset({"score", "points", "max_points", "passed", "grade", "correct", "result"})
_rng = random.SystemRandom()


# ---------------------------------------------------------------- bank


def _clean_question(kind: str, prompt: str, choices: list[Any], answer: Any) -> tuple[list[str], list[Any]]:
    """Validated ``(choices, answer key)`` for a question of ``kind``."""
    if kind not in QuestionKind.values:
        raise LearningError(_("Unknown question type."))
    if not (prompt or "").strip():
        raise LearningError(_("A question needs a prompt."))
    key = answer if isinstance(answer, list) else [answer]
    if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        texts = [str(c).strip() for c in choices or []]
        if len(texts) < 2 or len(texts) > 10 or not all(texts):
            raise LearningError(_("Give between 2 and 10 non-empty choices."))
        try:
            indexes = sorted({int(i) for i in key})
        except (TypeError, ValueError):
            raise LearningError(_("The answer must name choices by number.")) from None
        if not indexes or any(not 0 <= i < len(texts) for i in indexes):
            raise LearningError(_("The answer must name existing choices."))
        if kind == QuestionKind.SINGLE and len(indexes) != 1:
            raise LearningError(_("A single-choice question has exactly one answer."))
        return texts, indexes
    if kind == QuestionKind.TRUE_FALSE:
        if len(key) != 1 or not isinstance(key[0], bool):
            raise LearningError(_("A true/false answer is true or false."))
        return [], key
    accepted = [str(a).strip() for a in key if str(a).strip()]
    if not accepted:
        raise LearningError(_("Give at least one accepted answer."))
    return [], accepted


def add_question(
    actor: Actor,
    course: Course,
    *,
    kind: str,
    prompt: str,
    answer: Any,
    choices: list[Any] | None = None,
    explanation: str = "",
    points: int = 1,
) -> Question:
    """Add a question to the course's bank (instructors of the course only)."""
    services._require_edit(actor, course)
    texts, key = _clean_question(kind, prompt, choices or [], answer)
    if not 1 <= int(points) <= 100:
        raise LearningError(_("Points must be between 1 and 100."))
    with transaction.atomic():
        question = Question.objects.create(
            course=course,
            kind=kind,
            prompt=prompt.strip(),
            choices=texts,
            answer=key,
            explanation=(explanation or "").strip(),
            points=int(points),
            position=course.questions.count(),
        )
        question.ap_id = f"{course.ap_id}/questions/{question.pk}"
        question.save(update_fields=["ap_id"])
        services.touch(course)
    return question


def delete_question(actor: Actor, question: Question) -> None:
    """Remove a question from the bank (attempts already drawn keep grading the others)."""
    services._require_edit(actor, question.course)
    with transaction.atomic():
        question.delete()
        services.touch(question.course)


def set_exam(
    actor: Actor,
    course: Course,
    *,
    question_count: int,
    pass_mark: int = 60,
    time_limit_minutes: int | None = None,
    max_attempts: int | None = None,
) -> Exam:
    """Create or change the course's exam settings."""
    services._require_edit(actor, course)
    if not 1 <= int(question_count) <= 200:
        raise LearningError(_("An exam draws between 1 and 200 questions."))
    if not 0 <= int(pass_mark) <= 100:
        raise LearningError(_("The pass mark is a percentage."))
    if time_limit_minutes is not None and not 1 <= int(time_limit_minutes) <= 24 * 60:
        raise LearningError(_("The time limit is between 1 minute and 24 hours."))
    if max_attempts is not None and not 1 <= int(max_attempts) <= 100:
        raise LearningError(_("The attempt limit is between 1 and 100."))
    with transaction.atomic():
        exam, _created = Exam.objects.update_or_create(
            course=course,
            defaults={
                "question_count": int(question_count),
                "pass_mark": int(pass_mark),
                "time_limit_minutes": time_limit_minutes,
                "max_attempts": max_attempts,
            },
        )
        services.touch(course)
    return exam


def check_ready(course: Course) -> None:
    """Raise when the course's exam cannot draw its questions (bank smaller than the count)."""
    exam = Exam.objects.filter(course=course).first()
    if exam is not None and course.questions.count() < exam.question_count:
        raise LearningError(
            _("The exam draws %(n)d questions but the bank has fewer.") % {"n": exam.question_count}, code="state"
        )


# ---------------------------------------------------------------- attempts


def _grace() -> timedelta:
    return timedelta(seconds=int(settings.LEARNING_EXAM_GRACE_SECONDS))


def attempts_left(actor: Actor, exam: Exam) -> int | None:
    """How many more attempts ``actor`` may start (None: unlimited)."""
    if exam.max_attempts is None:
        return None
    return max(0, exam.max_attempts - ExamAttempt.objects.filter(exam=exam, actor=actor).count())


def _expire_if_late(attempt: ExamAttempt, now: Any) -> bool:
    if attempt.state == AttemptState.IN_PROGRESS and attempt.deadline_at and now > attempt.deadline_at + _grace():
        attempt.state = AttemptState.EXPIRED
        attempt.save(update_fields=["state"])
        return True
    return False


def start_attempt(actor: Actor, exam: Exam) -> ExamAttempt:
    """Start (or resume the running) attempt: enrolled members only, within the attempt limit.
    The questions are drawn at random now and fixed for the attempt."""
    course = exam.course
    if course.state != "published":
        raise LearningError(_("This course is not open for study."), code="state")
    services._require_enrolment(actor, course)
    now = timezone.now()
    with transaction.atomic():
        running = (
            ExamAttempt.objects.select_for_update()
            .filter(exam=exam, actor=actor, state=AttemptState.IN_PROGRESS)
            .order_by("-number")
            .first()
        )
        if running is not None and not _expire_if_late(running, now):
            return running
        used = ExamAttempt.objects.filter(exam=exam, actor=actor).count()
        if exam.max_attempts is not None and used >= exam.max_attempts:
            raise LearningError(_("You have used every attempt at this exam."), code="attempts", status=403)
        bank = list(course.questions.values_list("pk", flat=True))
        if len(bank) < exam.question_count:
            raise LearningError(_("This exam is not ready."), code="state")
        drawn = _rng.sample(bank, exam.question_count)
        deadline = now + timedelta(minutes=exam.time_limit_minutes) if exam.time_limit_minutes else None
        return ExamAttempt.objects.create(
            exam=exam, actor=actor, number=used + 1, question_ids=drawn, started_at=now, deadline_at=deadline
        )


def _normalise_text(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value or "")).casefold()
    return " ".join(text.split())


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in ("true", "1", "yes") else False if text in ("false", "0", "no") else None


def _as_indexes(value: Any) -> set[int] | None:
    values = value if isinstance(value, list) else [value]
    try:
        return {int(v) for v in values if str(v).strip() != ""}
    except (TypeError, ValueError):
        return None


def is_correct(question: Question, given: Any) -> bool:
    """True when ``given`` (as a client sends it) answers ``question`` correctly: the exact set
    of choices, the right truth value, or a fill-in text equal to an accepted one (Unicode NFKC,
    case and spacing ignored)."""
    if given is None:
        return False
    if question.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        return _as_indexes(given) == {int(i) for i in question.answer}
    if question.kind == QuestionKind.TRUE_FALSE:
        return _as_bool(given) is bool(question.answer[0])
    if isinstance(given, list):
        given = given[0] if len(given) == 1 else ""
    return _normalise_text(given) in {_normalise_text(a) for a in question.answer}


def submit_attempt(actor: Actor, attempt: ExamAttempt, answers: Any) -> ExamAttempt:
    """Grade and close ``actor``'s running attempt with ``answers`` (question id -> answer).

    Refused (``LearningError``, nothing stored): someone else's attempt (404), an attempt not
    running (409), after the time limit (403, the attempt is marked expired), or a submission
    carrying grading fields (422). A pass completes the course and awards its credits once."""
    from learning import credits

    if attempt.actor_id != actor.pk:
        raise LearningError(_("No such attempt."), code="missing", status=404)
    if not isinstance(answers, dict):
        raise LearningError(_("Answers are an object of question ids."))
    if FORGED_KEYS & {str(k).lower() for k in answers}:
        raise LearningError(_("Clients send answers, never grades."), code="forged")
    with transaction.atomic():
        attempt = ExamAttempt.objects.select_for_update().select_related("exam__course").get(pk=attempt.pk)
        if attempt.state != AttemptState.IN_PROGRESS:
            raise LearningError(_("This attempt is already closed."), code="state", status=409)
        if _expire_if_late(attempt, timezone.now()):
            expired = True
        else:
            expired = False
            questions = {q.pk: q for q in Question.objects.filter(pk__in=attempt.question_ids)}
            kept = {str(q): answers.get(str(q)) for q in attempt.question_ids if str(q) in answers}
            points = sum(q.points for pk, q in questions.items() if is_correct(q, kept.get(str(pk))))
            max_points = sum(q.points for q in questions.values())
            attempt.answers = kept
            attempt.points, attempt.max_points = points, max_points
            attempt.score = points * 100 // max_points if max_points else 0
            attempt.passed = max_points > 0 and attempt.score >= attempt.exam.pass_mark
            attempt.state, attempt.submitted_at = AttemptState.SUBMITTED, timezone.now()
            attempt.save()
            if attempt.passed:
                enrolment = services.enrolment_of(actor, attempt.exam.course)
                if enrolment is not None:
                    credits.complete_course(enrolment, reason="exam", attempt=attempt)
    if expired:
        raise LearningError(_("The time limit has passed; this attempt is closed."), code="expired", status=403)
    return attempt


def get_attempt_for(viewer: Actor | None, attempt_id: int) -> ExamAttempt:
    """The viewer's own attempt; raises ``ExamAttempt.DoesNotExist`` for anyone else's."""
    if viewer is None:
        raise ExamAttempt.DoesNotExist
    return ExamAttempt.objects.select_related("exam__course").get(pk=attempt_id, actor=viewer)


def question_to_json(question: Question, *, reveal: bool = False, given: Any = None) -> dict[str, Any]:
    """A question as clients see it: prompt and choices; the key and explanation only with
    ``reveal`` (after submission)."""
    data: dict[str, Any] = {
        "id": str(question.pk),
        "kind": question.kind,
        "prompt": question.prompt,
        "choices": list(question.choices),
        "points": question.points,
    }
    if reveal:
        data.update(
            {
                "answer": list(question.answer),
                "explanation": question.explanation,
                "given": given,
                "correct": is_correct(question, given),
            }
        )
    return data


def attempt_questions(attempt: ExamAttempt) -> list[Question]:
    """The attempt's questions in drawn order (deleted ones left out)."""
    rows = {q.pk: q for q in Question.objects.filter(pk__in=attempt.question_ids)}
    return [rows[pk] for pk in attempt.question_ids if pk in rows]


def attempt_to_json(attempt: ExamAttempt) -> dict[str, Any]:
    """An attempt for its owner. While it runs: questions without keys and the time left; once
    submitted: the grade, and each question with its key and the answer given."""
    reveal = attempt.state == AttemptState.SUBMITTED
    remaining = None
    if attempt.deadline_at and attempt.state == AttemptState.IN_PROGRESS:
        remaining = max(0, int((attempt.deadline_at - timezone.now()).total_seconds()))
    data: dict[str, Any] = {
        "id": str(attempt.pk),
        "course_id": str(attempt.exam.course_id),
        "number": attempt.number,
        "state": attempt.state,
        "started_at": attempt.started_at.isoformat(),
        "deadline_at": attempt.deadline_at.isoformat() if attempt.deadline_at else None,
        "seconds_left": remaining,
        "pass_mark": attempt.exam.pass_mark,
        "questions": [
            question_to_json(q, reveal=reveal, given=attempt.answers.get(str(q.pk))) for q in attempt_questions(attempt)
        ],
    }
    if reveal:
        data.update(
            {
                "score": attempt.score,
                "points": attempt.points,
                "max_points": attempt.max_points,
                "passed": attempt.passed,
            }
        )
    return data

"""Exams: drawing, time and attempt limits, grading, no answer keys before submission (learning/exams.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from learning import exams, services
from learning.errors import LearningError
from learning.models import AttemptState, CreditEntry, ExamAttempt, QuestionKind
from tests.learning.conftest import all_true


def test_attempt_draws_n_distinct_questions_from_bank(make_course, student):
    """An attempt draws the exam's question count, distinct, from a larger bank."""
    course = make_course(exam=5, bank=12)
    services.enrol(student, course)
    attempt = exams.start_attempt(student, course.exam)
    assert len(attempt.question_ids) == 5 == len(set(attempt.question_ids))
    assert set(attempt.question_ids) <= set(course.questions.values_list("pk", flat=True))


def test_attempt_json_has_no_answer_keys_before_submission(make_course, student):
    """A running attempt's JSON carries prompts and choices but no answers or explanations."""
    course = make_course(exam=None, publish=False)
    exams.add_question(
        course.owner, course, kind="single", prompt="Pick", choices=["secretkeyA", "b"], answer=0, explanation="WHY"
    )
    exams.add_question(course.owner, course, kind="fill", prompt="Fill", answer=["zebra-answer"])
    exams.set_exam(course.owner, course, question_count=2)
    services.publish_course(course.owner, course)
    services.enrol(student, course)
    attempt = exams.start_attempt(student, course.exam)
    text = json.dumps(exams.attempt_to_json(attempt))
    assert "zebra-answer" not in text and "WHY" not in text and '"answer"' not in text and "correct" not in text
    assert "secretkeyA" in text  # choices are shown, which one is right is not


def test_start_refused_when_not_enrolled(make_course, student):
    """Only enrolled members can take the exam; no attempt is stored otherwise."""
    course = make_course()
    with pytest.raises(LearningError):
        exams.start_attempt(student, course.exam)
    assert not ExamAttempt.objects.exists()


def test_start_refused_beyond_attempt_limit(make_course, student):
    """Once every allowed attempt is used, starting another is refused and none is stored."""
    course = make_course(max_attempts=2)
    services.enrol(student, course)
    for _ in range(2):
        attempt = exams.start_attempt(student, course.exam)
        exams.submit_attempt(student, attempt, {})
    with pytest.raises(LearningError) as err:
        exams.start_attempt(student, course.exam)
    assert err.value.code == "attempts" and err.value.status == 403
    assert ExamAttempt.objects.filter(actor=student).count() == 2


def test_running_attempt_resumed_not_duplicated(make_course, student):
    """Starting again while an attempt runs returns the same attempt with the same questions."""
    course = make_course(max_attempts=1)
    services.enrol(student, course)
    first = exams.start_attempt(student, course.exam)
    again = exams.start_attempt(student, course.exam)
    assert again.pk == first.pk and again.question_ids == first.question_ids


def test_submission_refused_after_time_limit(make_course, student):
    """A submission after the deadline (plus grace) is refused, its answers not kept, no credits."""
    course = make_course(time_limit_minutes=10)
    services.enrol(student, course)
    attempt = exams.start_attempt(student, course.exam)
    ExamAttempt.objects.filter(pk=attempt.pk).update(deadline_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(LearningError) as err:
        exams.submit_attempt(student, attempt, all_true(attempt))
    assert err.value.code == "expired" and err.value.status == 403
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.EXPIRED and attempt.answers == {} and attempt.score is None
    assert not CreditEntry.objects.exists()


def test_submission_accepted_within_time_limit(make_course, student):
    """A submission before the deadline is graded."""
    course = make_course(time_limit_minutes=10)
    services.enrol(student, course)
    attempt = exams.start_attempt(student, course.exam)
    graded = exams.submit_attempt(student, attempt, all_true(attempt))
    assert graded.state == AttemptState.SUBMITTED and graded.score == 100 and graded.passed


def test_forged_grade_refused(make_course, student):
    """A submission carrying a score or pass flag is refused and the attempt stays ungraded."""
    course = make_course()
    services.enrol(student, course)
    attempt = exams.start_attempt(student, course.exam)
    with pytest.raises(LearningError) as err:
        exams.submit_attempt(student, attempt, {"score": 100, "passed": True})
    assert err.value.code == "forged"
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.IN_PROGRESS and attempt.score is None and not attempt.passed
    assert not CreditEntry.objects.exists()


def test_second_submission_refused(make_course, student):
    """A submitted attempt cannot be submitted again (409) and keeps its grade."""
    course = make_course()
    services.enrol(student, course)
    attempt = exams.start_attempt(student, course.exam)
    exams.submit_attempt(student, attempt, {})
    with pytest.raises(LearningError) as err:
        exams.submit_attempt(student, attempt, all_true(attempt))
    assert err.value.status == 409
    attempt.refresh_from_db()
    assert attempt.score == 0 and not attempt.passed


def test_someone_elses_attempt_refused(make_course, student, make_local_member):
    """Submitting another member's attempt is refused as if it did not exist."""
    course = make_course()
    services.enrol(student, course)
    attempt = exams.start_attempt(student, course.exam)
    with pytest.raises(LearningError) as err:
        exams.submit_attempt(make_local_member("mallory"), attempt, all_true(attempt))
    assert err.value.status == 404
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.IN_PROGRESS


@pytest.mark.parametrize(
    ("kind", "choices", "key", "given", "ok"),
    [
        (QuestionKind.SINGLE, ["a", "b", "c"], 1, 1, True),
        (QuestionKind.SINGLE, ["a", "b", "c"], 1, "1", True),
        (QuestionKind.SINGLE, ["a", "b", "c"], 1, [1, 2], False),
        (QuestionKind.MULTIPLE, ["a", "b", "c"], [0, 2], [2, 0], True),
        (QuestionKind.MULTIPLE, ["a", "b", "c"], [0, 2], [0], False),
        (QuestionKind.TRUE_FALSE, [], False, "false", True),
        (QuestionKind.TRUE_FALSE, [], False, True, False),
        (QuestionKind.FILL, [], ["为人民服务"], " 为人民服务 ", True),
        (QuestionKind.FILL, [], ["Serve the People"], "serve  the people", True),
        (QuestionKind.FILL, [], ["Serve the People"], "serve", False),
    ],
)
def test_grading_per_question_kind(make_course, kind, choices, key, given, ok):
    """Each question kind grades the answer a client sends exactly (fill-in: case/space/width-insensitive)."""
    course = make_course(exam=None, publish=False)
    question = exams.add_question(course.owner, course, kind=kind, prompt="?", choices=choices, answer=key)
    assert exams.is_correct(question, given) is ok


def test_invalid_question_refused(make_course):
    """A single-choice question with an answer outside its choices is refused and not stored."""
    course = make_course(exam=None, publish=False)
    with pytest.raises(LearningError):
        exams.add_question(course.owner, course, kind="single", prompt="?", choices=["a", "b"], answer=5)
    assert not course.questions.exists()

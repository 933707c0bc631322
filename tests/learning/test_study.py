"""Study, group assignments and credits (learning/services.py, learning/credits.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from federation import registry as federation_registry
from learning import assignments, credits, exams, services
from learning.errors import LearningError
from learning.models import CourseAssignment, CreditEntry, Enrolment
from tests.learning.conftest import all_true


def test_enrol_refused_when_course_is_draft(make_course, student):
    """A draft course cannot be enrolled in; no enrolment is stored."""
    course = make_course(publish=False)
    with pytest.raises(LearningError):
        services.enrol(student, course)
    assert not Enrolment.objects.exists()


def test_enrol_refused_for_remote_actor(make_course, make_remote_actor):
    """Members study on their own node: a remote actor cannot enrol here."""
    course = make_course()
    remote, _key = make_remote_actor("far")
    with pytest.raises(LearningError):
        services.enrol(remote, course)
    assert not Enrolment.objects.exists()


def test_progress_and_resume_follow_completed_lessons(make_course, student):
    """Completing lessons raises the percentage; resume returns the last lesson opened."""
    course = make_course(lessons=4)
    lessons = list(course.lessons.all())
    row = services.enrol(student, course)
    assert services.progress_percent(row) == 0 and services.resume_lesson(row) == lessons[0]
    services.complete_lesson(student, lessons[0])
    services.complete_lesson(student, lessons[0])  # idempotent
    assert services.progress_percent(row) == 25
    services.open_lesson(student, lessons[2])
    row.refresh_from_db()
    assert services.resume_lesson(row) == lessons[2]


def test_credits_awarded_once_when_exam_passed_twice(make_course, student):
    """Passing the exam awards the course's credits once; a second pass adds nothing."""
    course = make_course(credits=4)
    services.enrol(student, course)
    for _ in range(2):
        attempt = exams.start_attempt(student, course.exam)
        assert exams.submit_attempt(student, attempt, all_true(attempt)).passed
    assert CreditEntry.objects.filter(actor=student).count() == 1
    assert credits.totals_by_year(student) == [(timezone.localtime().year, 4)]
    assert federation_registry.count("learningCredits") == 4


def test_no_credits_when_exam_failed(make_course, student):
    """A failed exam awards nothing and leaves the course incomplete."""
    course = make_course()
    row = services.enrol(student, course)
    attempt = exams.start_attempt(student, course.exam)
    assert not exams.submit_attempt(student, attempt, {str(pk): False for pk in attempt.question_ids}).passed
    row.refresh_from_db()
    assert row.completed_at is None and not CreditEntry.objects.exists()


def test_credits_awarded_on_completion_when_course_has_no_exam(make_course, student):
    """A course without an exam is complete, and credited once, when every lesson is done."""
    course = make_course(exam=None, credits=2)
    row = services.enrol(student, course)
    lessons = list(course.lessons.all())
    services.complete_lesson(student, lessons[0])
    assert not CreditEntry.objects.exists()
    services.complete_lesson(student, lessons[1])
    services.complete_lesson(student, lessons[1])
    row.refresh_from_db()
    assert row.completed_at is not None
    assert list(CreditEntry.objects.values_list("credits", "reason")) == [(2, "completion")]


def test_lessons_done_do_not_credit_course_with_exam(make_course, student):
    """Completing the lessons of a course with an exam awards nothing until the exam is passed."""
    course = make_course()
    services.enrol(student, course)
    for lesson in course.lessons.all():
        services.complete_lesson(student, lesson)
    assert not CreditEntry.objects.exists()


@pytest.fixture
def branch(make_local_member):
    """A group actor with an officer and two members, through the real groups app."""
    from groups.services import create_group

    secretary = make_local_member("sec")
    group = create_group("branch1", secretary=secretary, display_name="Branch", kind="branch")
    return group, secretary


def _join(group, actor):
    from groups.models import Membership

    Membership.objects.create(group=group, actor=actor, role="member", state="active", joined_at=timezone.now())


def test_assignment_enrols_group_members(make_course, branch, make_local_member):
    """An officer's assignment enrols every local member of the group, with the deadline."""
    group, secretary = branch
    a, b = make_local_member("m1"), make_local_member("m2")
    _join(group, a)
    _join(group, b)
    course = make_course()
    row = assignments.assign_course(secretary, course, group.actor, deadline=timezone.now() + timedelta(days=7))
    enrolled = set(Enrolment.objects.filter(assignment=row).values_list("actor__username", flat=True))
    assert {"m1", "m2"} <= enrolled


def test_assignment_refused_when_not_officer(make_course, branch, make_local_member):
    """A plain member cannot assign a course to the group; nothing is stored."""
    group, _secretary = branch
    member = make_local_member("m1")
    _join(group, member)
    with pytest.raises(LearningError) as err:
        assignments.assign_course(member, make_course(), group.actor, deadline=timezone.now() + timedelta(days=1))
    assert err.value.status == 403
    assert not CourseAssignment.objects.exists() and not Enrolment.objects.exists()


def test_overdue_report_lists_unfinished_members(make_course, branch, make_local_member):
    """After the deadline, members who did not complete the course are listed; finishers are not."""
    group, secretary = branch
    done, late = make_local_member("done"), make_local_member("late")
    _join(group, done)
    _join(group, late)
    course = make_course(exam=None, credits=1)
    row = assignments.assign_course(secretary, course, group.actor, deadline=timezone.now() + timedelta(days=1))
    for lesson in course.lessons.all():
        services.complete_lesson(done, lesson)
    CourseAssignment.objects.filter(pk=row.pk).update(deadline=timezone.now() + timedelta(seconds=1))
    items = credits.overdue(group.actor, now=timezone.now() + timedelta(days=2))
    names = {m.username for m in items[0]["members"]}
    assert "late" in names and "done" not in names
    csv_text = credits.overdue_csv(items)
    assert "late" in csv_text and "done" not in csv_text.split("\n", 1)[1]


def test_group_report_average_and_leaderboard(make_course, branch, make_local_member):
    """The group report totals credits this year, averages per member and ranks the leaders."""
    group, _secretary = branch
    top, low = make_local_member("top"), make_local_member("low")
    _join(group, top)
    _join(group, low)
    for i, actor in enumerate([top, top, low]):
        course = make_course(f"C{i}", exam=None, credits=5)
        services.enrol(actor, course)
        for lesson in course.lessons.all():
            services.complete_lesson(actor, lesson)
    report = credits.group_report(group.actor)
    assert report["leaderboard"][0]["handle"] == "top" and report["leaderboard"][0]["credits"] == 10
    assert report["total"] == 15 and report["average"] == round(15 / report["members"], 2)
    assert credits.report_csv(report).startswith("\ufeffhandle,name,year,credits,courses")


def test_csv_cells_defused_when_formula_like():
    """CSV cells starting like spreadsheet formulas are prefixed so they are not run."""
    text = credits.to_csv(["name"], [["=HYPERLINK(1)"], ["ok"]])
    assert "'=HYPERLINK(1)" in text and "\nok" in text.replace("\r", "")


def test_ask_question_is_reply_to_discussion(make_course, student):
    """A Q&A question is a public reply to the course's discussion post."""
    course = make_course()
    post = services.ask_question(student, course, "What does lesson 2 mean?")
    assert post.in_reply_to_id == course.discussion_id
    assert list(services.discussion_posts(None, course)) == [post]

"""Group assignments kept in step with membership (learning/assignments.py): late joiners get the
assignment, leavers lose the pending obligation but never their study, through the real groups app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from groups import services as groups
from learning import assignments, credits, services
from learning.models import CourseAssignment, Enrolment, EnrolmentSource


@pytest.fixture
def branch(make_local_member):
    """A local group led by its secretary ``sec``."""
    secretary = make_local_member("sec")
    group = groups.create_group("branch1", secretary=secretary, display_name="Branch", kind="branch")
    return group, secretary


@pytest.fixture
def assigned(make_course, branch, django_capture_on_commit_callbacks):
    """A published course without exam, assigned to the branch with a deadline in a week."""
    group, secretary = branch
    course = make_course(exam=None, credits=2)
    with django_capture_on_commit_callbacks(execute=True):
        row = assignments.assign_course(secretary, course, group.actor, deadline=timezone.now() + timedelta(days=7))
    return row


def _join(group, member, secretary, capture) -> None:
    """``member`` asks to join and the secretary approves, as members and officers do."""
    with capture(execute=True):
        groups.request_membership(member, group)
        groups.approve(group, member, by=secretary)


def _leave(group, member, capture) -> None:
    with capture(execute=True):
        groups.leave(member, group)


def test_late_joiner_gets_assignment(assigned, branch, make_local_member, django_capture_on_commit_callbacks):
    """A member who joins after the assignment is enrolled with it and its deadline."""
    group, secretary = branch
    late = make_local_member("late")
    _join(group, late, secretary, django_capture_on_commit_callbacks)
    row = Enrolment.objects.get(actor=late, course=assigned.course)
    assert row.assignment == assigned and row.source == EnrolmentSource.ASSIGNED
    assert credits.assignment_status(assigned)["members"] >= 2


def test_pending_request_does_not_get_assignment(
    assigned, branch, make_local_member, django_capture_on_commit_callbacks
):
    """Asking to join is not membership: no enrolment until an officer approves."""
    group, _secretary = branch
    asker = make_local_member("asker")
    with django_capture_on_commit_callbacks(execute=True):
        groups.request_membership(asker, group)
    assert not Enrolment.objects.filter(actor=asker).exists()


def test_leaver_without_study_loses_assignment(assigned, branch, make_local_member, django_capture_on_commit_callbacks):
    """A member who leaves before studying loses the pending obligation entirely."""
    group, secretary = branch
    member = make_local_member("m1")
    _join(group, member, secretary, django_capture_on_commit_callbacks)
    _leave(group, member, django_capture_on_commit_callbacks)
    assert not Enrolment.objects.filter(actor=member).exists()
    overdue = credits.overdue(group.actor, now=assigned.deadline + timedelta(days=1))
    assert member not in overdue[0]["members"]


def test_leaver_keeps_progress_as_self_study(assigned, branch, make_local_member, django_capture_on_commit_callbacks):
    """A member who leaves mid-course keeps the progress as a self-selected course, without deadline."""
    group, secretary = branch
    member = make_local_member("m1")
    _join(group, member, secretary, django_capture_on_commit_callbacks)
    services.complete_lesson(member, assigned.course.lessons.first())
    _leave(group, member, django_capture_on_commit_callbacks)
    row = Enrolment.objects.get(actor=member)
    assert row.assignment is None and row.source == EnrolmentSource.SELF
    assert services.progress_percent(row) == 50


def test_finished_member_keeps_record_after_leaving(
    assigned, branch, make_local_member, django_capture_on_commit_callbacks
):
    """A member who completed the assigned course keeps the enrolment, its assignment and credits."""
    group, secretary = branch
    member = make_local_member("m1")
    _join(group, member, secretary, django_capture_on_commit_callbacks)
    for lesson in assigned.course.lessons.all():
        services.complete_lesson(member, lesson)
    _leave(group, member, django_capture_on_commit_callbacks)
    row = Enrolment.objects.get(actor=member)
    assert row.completed_at is not None and row.assignment == assigned
    assert credits.total_credits() == 2


def test_removed_member_loses_assignment(assigned, branch, make_local_member, django_capture_on_commit_callbacks):
    """An officer removing a member releases the member's pending assignment too."""
    group, secretary = branch
    member = make_local_member("m1")
    _join(group, member, secretary, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        groups.remove(group, member, by=secretary)
    assert not Enrolment.objects.filter(actor=member).exists()


def test_leaver_moves_to_other_groups_assignment(
    assigned, branch, make_local_member, django_capture_on_commit_callbacks
):
    """Leaving one group keeps the deadline of another group that assigned the same course."""
    group, secretary = branch
    other = groups.create_group("branch2", secretary=secretary, display_name="Two", kind="branch")
    with django_capture_on_commit_callbacks(execute=True):
        second = assignments.assign_course(
            secretary, assigned.course, other.actor, deadline=timezone.now() + timedelta(days=30)
        )
    member = make_local_member("m1")
    _join(group, member, secretary, django_capture_on_commit_callbacks)
    _join(other, member, secretary, django_capture_on_commit_callbacks)
    assert Enrolment.objects.get(actor=member).assignment == assigned
    _leave(group, member, django_capture_on_commit_callbacks)
    assert Enrolment.objects.get(actor=member).assignment == second


def test_periodic_sync_catches_changes_made_without_follows(assigned, branch, make_local_member):
    """Memberships written directly (no follow event) are caught by the periodic task, idempotently."""
    from groups.models import Membership

    group, _secretary = branch
    member = make_local_member("m1")
    Membership.objects.create(group=group, actor=member, role="member", state="active", joined_at=timezone.now())
    assert not Enrolment.objects.filter(actor=member).exists()
    assert assignments.sync_all_task() == 1
    assert assignments.sync_all_task() == 1
    assert Enrolment.objects.filter(actor=member, assignment=assigned).count() == 1
    Membership.objects.filter(actor=member).update(state="left")
    assignments.sync_all_task()
    assert not Enrolment.objects.filter(actor=member).exists()


def test_self_enrolled_member_joining_gets_deadline(
    assigned, branch, make_local_member, django_capture_on_commit_callbacks
):
    """A member already studying the course on their own gets the assignment on joining, progress kept."""
    group, secretary = branch
    member = make_local_member("m1")
    row = services.enrol(member, assigned.course)
    services.complete_lesson(member, assigned.course.lessons.first())
    _join(group, member, secretary, django_capture_on_commit_callbacks)
    row.refresh_from_db()
    assert row.assignment == assigned and services.progress_percent(row) == 50
    assert CourseAssignment.objects.count() == 1

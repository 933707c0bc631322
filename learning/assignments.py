"""Organised classes: a course assigned to a whole group with a deadline, kept in step with the
group's membership.

An assignment enrols every local member of the group when it is made. Membership changes later:
members who join get the assignment too, members who leave (or are removed) lose the pending
obligation. ``groups`` and ``learning`` do not import each other, so the group's members come from
``learning.registry`` and the changes are heard through ``federation``'s follow observers (joining
and leaving a local group is a follow of its actor, mirrored into the membership by ``groups``):
after the change commits, :func:`sync_group` re-reads the group. A periodic task
(``learning.sync_assignments``) re-syncs every assignment, for changes made some other way.

Leaving never loses study: a finished enrolment stays as it is (the report of the deadline counts
it); an unfinished one is attached to another assignment of the same course that still reaches
the member, or else becomes a self-selected enrolment, or is removed when nothing was studied.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from federation import registry as federation_registry
from federation.models import Actor, ActorType
from learning import registry
from learning.errors import LearningError
from learning.models import CourseAssignment, CourseState, Enrolment, EnrolmentSource, ExamAttempt
from learning.services import _is_staff, enrol


def assign_course(actor: Actor, course: Any, group_actor: Actor, *, deadline: datetime) -> CourseAssignment:
    """Assign a published course to a whole group with a deadline (an officer of the group, or
    staff). Every local member of the group is enrolled; later joiners are enrolled and leavers
    released by :func:`sync_assignment`. Re-assigning changes the deadline."""
    if group_actor.type != ActorType.GROUP:
        raise LearningError(_("Courses are assigned to groups."))
    if not (_is_staff(actor) or registry.is_group_officer(actor, group_actor)):
        raise LearningError(_("Only the group's officers can assign courses."), code="forbidden", status=403)
    if course.state != CourseState.PUBLISHED:
        raise LearningError(_("This course is not open for study."), code="state")
    if timezone.is_naive(deadline):
        deadline = timezone.make_aware(deadline)
    with transaction.atomic():
        row, _created = CourseAssignment.objects.update_or_create(
            course=course, group_actor=group_actor, defaults={"deadline": deadline, "assigned_by": actor}
        )
        sync_assignment(row)
    return row


def _local_members(group_actor: Actor) -> dict[int, Actor]:
    return {m.pk: m for m in registry.group_members(group_actor) if m.local and m.type == ActorType.PERSON and m.pk}


def _release(row: Enrolment, assignment: CourseAssignment) -> None:
    """``row``'s member is no longer in ``assignment``'s group and has not finished the course."""
    for other in CourseAssignment.objects.filter(course_id=row.course_id).exclude(pk=assignment.pk):
        if row.actor_id in _local_members(other.group_actor):
            row.assignment = other
            row.save(update_fields=["assignment"])
            return
    tried = ExamAttempt.objects.filter(exam__course_id=row.course_id, actor_id=row.actor_id).exists()
    studied = row.last_lesson_id is not None or row.progress.exists() or tried
    if row.source == EnrolmentSource.ASSIGNED and not studied:
        row.delete()
        return
    row.assignment, row.source = None, EnrolmentSource.SELF
    row.save(update_fields=["assignment", "source"])


def sync_assignment(assignment: CourseAssignment) -> int:
    """Make the assignment match the group's current local members: each is enrolled with the
    assignment, and unfinished enrolments of former members are released (see the module
    docstring). Idempotent. Returns how many enrolments the assignment now has."""
    members = _local_members(assignment.group_actor)
    with transaction.atomic():
        if assignment.course.state == CourseState.PUBLISHED:
            for member in members.values():
                enrol(member, assignment.course, source=EnrolmentSource.ASSIGNED, assignment=assignment)
        stale = assignment.enrolments.filter(completed_at__isnull=True).exclude(actor_id__in=list(members))
        for row in stale.select_related("course"):
            _release(row, assignment)
    return assignment.enrolments.count()


def sync_group(group_actor_id: int) -> int:
    """Re-sync every assignment of the group (after a membership change); returns how many."""
    rows = list(CourseAssignment.objects.filter(group_actor_id=group_actor_id).select_related("course", "group_actor"))
    for row in rows:
        sync_assignment(row)
    return len(rows)


@shared_task(name="learning.sync_group_assignments", ignore_result=True)
def sync_group_task(group_actor_id: int) -> int:
    """Celery entry point of :func:`sync_group` (idempotent)."""
    return sync_group(group_actor_id)


@shared_task(name="learning.sync_assignments", ignore_result=True)
def sync_all_task() -> int:
    """Periodic reconciliation: re-sync every assignment whose deadline is less than a year past."""
    since = timezone.now() - timedelta(days=366)
    groups = CourseAssignment.objects.filter(deadline__gte=since).values_list("group_actor_id", flat=True)
    ids = sorted(set(groups))
    for group_id in ids:
        sync_group(group_id)
    return len(ids)


def on_follow_event(event: str, follow: Any) -> None:
    """Follow observer: a follow of a local group with assignments changed (someone joined, left or
    was removed): re-sync its assignments after the change commits. Never raises into the follow."""
    target = follow.target
    if not target.local or target.type != ActorType.GROUP:
        return
    if CourseAssignment.objects.filter(group_actor_id=target.pk).exists():
        sync_group_task.delay_on_commit(target.pk)


def assignments_for(actor: Actor) -> QuerySet[CourseAssignment]:
    """Assignments reaching ``actor`` through their enrolments, nearest deadline first."""
    return (
        CourseAssignment.objects.filter(enrolments__actor=actor)
        .select_related("course", "group_actor")
        .order_by("deadline")
    )


federation_registry.register_follow_observer(on_follow_event)

"""Learning credits: completing courses, the per-member ledger, group and node reports.

A course's credits are awarded once per member (a unique constraint on the ledger backs the
check), when its exam is passed or, for a course without an exam, when every lesson is done.
Reports name who has not finished an assigned course by its deadline, give averages and
leaderboards, and export as CSV. ``learningCredits`` (total credits awarded on this node) is a
NodeInfo/statistics counter registered in ``LearningConfig.ready()``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from federation.models import Actor
from learning import registry
from learning.models import CourseAssignment, CreditEntry, CreditReason, Enrolment, ExamAttempt


def complete_course(enrolment: Enrolment, *, reason: str, attempt: ExamAttempt | None = None) -> CreditEntry | None:
    """Mark the enrolment completed (first time only) and award the course's credits once.

    Returns the new ledger entry, or None when the member already had credits for the course
    (a second pass adds nothing)."""
    now = timezone.now()
    if enrolment.completed_at is None:
        enrolment.completed_at = now
        enrolment.save(update_fields=["completed_at"])
    course = enrolment.course
    if CreditEntry.objects.filter(actor_id=enrolment.actor_id, course=course).exists():
        return None
    try:
        with transaction.atomic():
            return CreditEntry.objects.create(
                actor_id=enrolment.actor_id,
                course=course,
                course_title=course.title,
                credits=course.credits,
                reason=CreditReason.EXAM if reason == "exam" else CreditReason.COMPLETION,
                year=timezone.localtime(now).year,
                attempt=attempt,
                awarded_at=now,
            )
    except IntegrityError:  # a concurrent award won: still once
        return None


def total_credits() -> int:
    """Credits awarded on this node, all members and years (the ``learningCredits`` counter)."""
    return int(CreditEntry.objects.aggregate(total=Sum("credits"))["total"] or 0)


def ledger(actor: Actor, *, year: int | None = None) -> list[CreditEntry]:
    """``actor``'s ledger entries, newest first, optionally of one year."""
    rows = CreditEntry.objects.filter(actor=actor)
    if year is not None:
        rows = rows.filter(year=year)
    return list(rows.order_by("-awarded_at", "-pk"))


def totals_by_year(actor: Actor) -> list[tuple[int, int]]:
    """``[(year, credits)]`` for ``actor``, most recent year first."""
    rows = CreditEntry.objects.filter(actor=actor).values("year").annotate(total=Sum("credits")).order_by("-year")
    return [(r["year"], int(r["total"] or 0)) for r in rows]


def _member_rows(members: Sequence[Actor], year: int) -> list[dict[str, Any]]:
    totals = dict(
        CreditEntry.objects.filter(actor__in=members, year=year)
        .values("actor_id")
        .annotate(total=Sum("credits"))
        .values_list("actor_id", "total")
    )
    courses = dict(
        CreditEntry.objects.filter(actor__in=members, year=year)
        .values("actor_id")
        .annotate(n=Count("pk"))
        .values_list("actor_id", "n")
    )
    rows: list[dict[str, Any]] = [
        {
            "actor": m,
            "handle": m.username if m.local else f"{m.username}@{m.domain}",
            "name": m.name or m.username,
            "credits": int(totals.get(m.pk, 0) or 0),
            "courses": int(courses.get(m.pk, 0) or 0),
        }
        for m in members
    ]
    rows.sort(key=lambda r: (-int(r["credits"]), str(r["handle"])))
    return rows


def _summary(rows: list[dict[str, Any]], year: int) -> dict[str, Any]:
    total = sum(r["credits"] for r in rows)
    return {
        "year": year,
        "members": len(rows),
        "total": total,
        "average": round(total / len(rows), 2) if rows else 0,
        "leaderboard": rows[:10],
        "rows": rows,
    }


def group_report(group_actor: Actor, *, year: int | None = None) -> dict[str, Any]:
    """Credits of the group's current members in ``year`` (default: this year): total, average
    per member, leaderboard and one row per member, plus overdue assignments."""
    year = year or timezone.localtime().year
    members = registry.group_members(group_actor)
    report = _summary(_member_rows(members, year), year)
    report["overdue"] = overdue(group_actor)
    return report


def node_report(*, year: int | None = None) -> dict[str, Any]:
    """Credits of this node's members in ``year``: total, average, leaderboard, rows."""
    year = year or timezone.localtime().year
    members = list(Actor.objects.filter(local=True, type="Person", user__isnull=False, user__is_active=True))
    return _summary(_member_rows(members, year), year)


def overdue(group_actor: Actor, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """For each of the group's assignments whose deadline has passed: the current members who did
    not complete the course by the deadline (not enrolled counts as not finished)."""
    now = now or timezone.now()
    members = registry.group_members(group_actor)
    result = []
    for assignment in CourseAssignment.objects.filter(group_actor=group_actor, deadline__lt=now).select_related(
        "course"
    ):
        done = set(
            Enrolment.objects.filter(
                course=assignment.course,
                actor__in=members,
                completed_at__isnull=False,
                completed_at__lte=assignment.deadline,
            ).values_list("actor_id", flat=True)
        )
        late = [m for m in members if m.pk not in done]
        result.append(
            {"assignment": assignment, "course": assignment.course, "deadline": assignment.deadline, "members": late}
        )
    return result


def assignment_status(assignment: CourseAssignment) -> dict[str, int]:
    """Counts for one assignment: current members, completed, completed on time."""
    members = registry.group_members(assignment.group_actor)
    enrolments = Enrolment.objects.filter(course=assignment.course, actor__in=members)
    agg = enrolments.aggregate(
        done=Count("pk", filter=Q(completed_at__isnull=False)),
        on_time=Count("pk", filter=Q(completed_at__lte=assignment.deadline)),
    )
    return {"members": len(members), "completed": agg["done"] or 0, "on_time": agg["on_time"] or 0}


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (with a BOM so spreadsheet programs read Chinese as UTF-8); cells that a
    spreadsheet would run as formulas are quoted with a leading apostrophe."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def report_csv(report: dict[str, Any]) -> str:
    """CSV of a group or node report: one row per member."""
    return to_csv(
        ["handle", "name", "year", "credits", "courses"],
        ([r["handle"], r["name"], report["year"], r["credits"], r["courses"]] for r in report["rows"]),
    )


def overdue_csv(items: list[dict[str, Any]]) -> str:
    """CSV of overdue assignments: one row per member and course."""
    return to_csv(
        ["course", "deadline", "handle", "name"],
        (
            [
                item["course"].title,
                item["deadline"].isoformat(),
                m.username if m.local else f"{m.username}@{m.domain}",
                m.name,
            ]
            for item in items
            for m in item["members"]
        ),
    )

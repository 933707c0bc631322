"""Registration points of the learning app for apps beside it.

``learning`` and ``groups`` do not import each other (DESIGN.md). Course assignments name a
group by its ``federation.Actor`` (type Group); ``groups`` registers, in its ``AppConfig.ready()``,
how to list a group's active members and whether an actor is one of its officers.
"""

from __future__ import annotations

from collections.abc import Callable

from federation.models import Actor

GroupMembers = Callable[[Actor], list[Actor]]
GroupOfficer = Callable[[Actor, Actor], bool]

_members: list[GroupMembers] = []
_officer: list[GroupOfficer] = []


def register_group_members(fn: GroupMembers) -> GroupMembers:
    """Register ``fn(group_actor) -> active member actors``; the last registration wins."""
    _members[:] = [fn]
    return fn


def register_group_officer(fn: GroupOfficer) -> GroupOfficer:
    """Register ``fn(actor, group_actor) -> bool`` (is ``actor`` an officer of the group?)."""
    _officer[:] = [fn]
    return fn


def group_members(group_actor: Actor) -> list[Actor]:
    """Active members of the group; empty when no app provides groups."""
    return list(_members[0](group_actor)) if _members else []


def is_group_officer(actor: Actor | None, group_actor: Actor) -> bool:
    """True when ``actor`` is an officer of the group; False when no app provides groups."""
    return bool(actor is not None and _officer and _officer[0](actor, group_actor))


# Course observers: ``fn(event, course)`` with ``event`` one of ``"published"``, ``"updated"``
# (metadata, a lesson, an attachment, the exam or the question bank of a published course
# changed) or ``"archived"``. Called after commit by ``learning.services`` (W5 federates courses
# from here); observers schedule slow work themselves.
CourseObserver = Callable[[str, object], None]
_course_observers: list[CourseObserver] = []


def register_course_observer(fn: CourseObserver) -> CourseObserver:
    """Register ``fn(event, course)`` (idempotent on re-import); usable as a decorator."""
    if fn not in _course_observers:
        _course_observers.append(fn)
    return fn


def course_event(event: str, course: object) -> None:
    """Tell every course observer that ``course`` was ``published``/``updated``/``archived``."""
    for fn in list(_course_observers):
        fn(event, course)

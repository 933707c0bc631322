"""Inbound course activities: ``Create``/``Update``/``Delete`` of a ``redcloud:Course``.

Only a node's instance actor (``Application``) on the course's own host may announce, change or
withdraw a course (the embedded object is then the origin's own word). A received course goes
into the catalog of shared courses; an ``Update`` of a course we imported also makes us fetch
it again from its origin, signed, to get the new answer keys too (public activities never carry
them). An ``Update`` of an imported course by any other actor is refused.
"""

from __future__ import annotations

from typing import Any

from federation.inbound import Reject, same_origin
from federation.models import Actor, ActorType
from federation.registry import register_handler
from federation.vocab import id_of
from learning import sharing
from learning.models import CourseOrigin
from learning.sharing_ap import COURSE_TYPES, CourseFormatError, parse_course


def _check_sender(course_id: str | None, actor: Actor) -> str:
    if not course_id:
        raise Reject("course activity without an object id")
    if actor.type != ActorType.APPLICATION:
        raise Reject("courses are published by a node's instance actor")
    if not same_origin(course_id, actor):
        raise Reject("a course may only be published by its own node")
    return course_id


def _receive(activity: dict[str, Any], actor: Actor, *, update: bool) -> None:
    obj = activity.get("object")
    course_id = id_of(obj)
    origin = CourseOrigin.objects.select_related("publisher").filter(course__origin_ap_id=course_id).first()
    if update and origin is not None and origin.publisher_id != actor.pk:
        raise Reject("only the course's origin may update it")
    _check_sender(course_id, actor)
    if not isinstance(obj, dict):
        raise Reject("course activities embed the course")
    try:
        values = parse_course(obj)
    except CourseFormatError as exc:
        raise Reject(f"malformed course: {exc}") from None
    if values["publisher"] != actor.ap_id:
        raise Reject("the course is attributed to another actor")
    sharing.remember_shared(values, actor)
    if update and origin is not None:
        sharing.schedule_refresh(origin.course)


def handle_create_course(activity: dict[str, Any], actor: Actor) -> None:
    """A node announces a course: it joins our catalog of shared courses."""
    _receive(activity, actor, update=False)


def handle_update_course(activity: dict[str, Any], actor: Actor) -> None:
    """A course changed at its origin: refresh the catalog entry and, for a course we imported,
    fetch the new version from the origin. Refused from anyone but the origin's instance actor."""
    _receive(activity, actor, update=True)


def handle_delete_course(activity: dict[str, Any], actor: Actor) -> None:
    """The origin withdrew a course: its catalog entry is marked withdrawn (imported copies stay,
    so members keep what they studied and earned)."""
    course_id = _check_sender(id_of(activity.get("object")), actor)
    sharing.withdraw_shared(course_id, actor)


for _type in COURSE_TYPES:
    register_handler("Create", _type)(handle_create_course)
    register_handler("Update", _type)(handle_update_course)
    register_handler("Delete", _type)(handle_delete_course)

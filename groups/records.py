"""Meeting records of a local group: the branch's "three meetings and one lesson" ledger.

A meeting has a kind (``settings.GROUPS_MEETING_KINDS``), a date, a place, attendees and
absentees (with a reason), topics, minutes (plain text, sanitised on write), attachments
(type- and size-checked files) and optionally the id of the ``Event`` that announced it.

Minutes never leave the node: there is no AS2 representation and nothing here federates.
Active members read records (``get_meeting_for``/``meetings_for``); officers holding the
``records`` permission create and edit them. Every function is the only write path for its row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, QuerySet
from django.db.models.functions import ExtractYear
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.models import Actor
from federation.sanitize import plain_text
from groups.models import Group, Meeting, MeetingAttachment, MeetingAttendance
from groups.services import as_group, has_perm, is_member

MAX_TOPICS = 50
MAX_MINUTES_CHARS = 100_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Attachment types recognised by their first bytes (the declared content type is not trusted).
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
    (b"PK\x03\x04", "application/zip", ".zip"),  # docx/xlsx/odt are zip containers
)
_OFFICE = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
}


class RecordError(ValueError):
    """Invalid meeting data (unknown kind, bad date, attachment too large or of a wrong type)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def meeting_kinds() -> list[str]:
    """The configured meeting kinds."""
    return list(getattr(settings, "GROUPS_MEETING_KINDS", ["member_assembly"]))


def max_attachment_bytes() -> int:
    """Largest accepted attachment (``GROUPS_MAX_ATTACHMENT_BYTES``, default 10 MiB)."""
    return int(getattr(settings, "GROUPS_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024))


def clean_text(value: str, limit: int) -> str:
    """Plain text of a member's input: tags removed, control characters dropped, trimmed."""
    text = plain_text(str(value or "").replace("\r\n", "\n"))
    return _CONTROL.sub("", text).strip()[:limit]


def _clean_topics(topics: Iterable[str] | str) -> list[str]:
    if isinstance(topics, str):
        topics = topics.splitlines()
    cleaned = [clean_text(t, 200) for t in topics]
    cleaned = [t for t in cleaned if t]
    if len(cleaned) > MAX_TOPICS:
        raise RecordError(_("at most %(count)d topics") % {"count": MAX_TOPICS}, "topics")
    return cleaned


def _clean_date(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise RecordError(_("the date must be YYYY-MM-DD"), "held_on") from None


def _can_write(actor: Actor | None, group: Group) -> None:
    if not has_perm(actor, group, "records"):
        raise PermissionDenied("only officers may keep meeting records")


def _set_attendance(meeting: Meeting, attendees: Sequence[Actor], absentees: dict[Actor, str]) -> None:
    """Replace the attendance list; only members of the group (any state) may be listed."""
    listed = [*attendees, *absentees]
    allowed = set(meeting.group.memberships.filter(actor__in=listed).values_list("actor_id", flat=True))
    strangers = [a.handle for a in listed if a.pk not in allowed]
    if strangers:
        raise RecordError(
            _("not members of this group: %(accounts)s") % {"accounts": ", ".join(strangers)}, "attendees"
        )
    meeting.attendance.all().delete()
    rows = [MeetingAttendance(meeting=meeting, actor=a, present=True) for a in attendees]
    rows += [
        MeetingAttendance(meeting=meeting, actor=a, present=False, reason=clean_text(r, 200))
        for a, r in absentees.items()
        if a not in attendees
    ]
    MeetingAttendance.objects.bulk_create(rows)


def create_meeting(
    actor: Actor,
    group: Group | Actor,
    *,
    kind: str,
    held_on: date | str,
    place: str = "",
    title: str = "",
    topics: Iterable[str] | str = (),
    minutes: str = "",
    attendees: Sequence[Actor] = (),
    absentees: dict[Actor, str] | None = None,
    event_ap_id: str = "",
) -> Meeting:
    """Record a meeting of ``group``. Only an active member with the ``records`` permission may
    (``PermissionDenied``); invalid data raises :class:`RecordError` and stores nothing."""
    group = as_group(group)
    _can_write(actor, group)
    if kind not in meeting_kinds():
        raise RecordError(_("unknown meeting kind %(kind)s") % {"kind": repr(kind)}, "kind")
    with transaction.atomic():
        meeting = Meeting.objects.create(
            group=group,
            kind=kind,
            held_on=_clean_date(held_on),
            place=clean_text(place, 200),
            title=clean_text(title, 200),
            topics=_clean_topics(topics),
            minutes=clean_text(minutes, MAX_MINUTES_CHARS),
            event_ap_id=str(event_ap_id or "")[:500],
            created_by=actor,
        )
        _set_attendance(meeting, list(attendees), dict(absentees or {}))
    return meeting


def update_meeting(actor: Actor, meeting: Meeting, **changes: Any) -> Meeting:
    """Edit a meeting record (same fields and rules as :func:`create_meeting`; absent keys are
    kept). ``attendees``/``absentees`` replace the whole attendance list when either is given."""
    _can_write(actor, meeting.group)
    with transaction.atomic():
        if "kind" in changes:
            if changes["kind"] not in meeting_kinds():
                raise RecordError(_("unknown meeting kind %(kind)s") % {"kind": repr(changes["kind"])}, "kind")
            meeting.kind = changes["kind"]
        if "held_on" in changes:
            meeting.held_on = _clean_date(changes["held_on"])
        for name in ("place", "title"):
            if name in changes:
                setattr(meeting, name, clean_text(changes[name], 200))
        if "topics" in changes:
            meeting.topics = _clean_topics(changes["topics"])
        if "minutes" in changes:
            meeting.minutes = clean_text(changes["minutes"], MAX_MINUTES_CHARS)
        if "event_ap_id" in changes:
            meeting.event_ap_id = str(changes["event_ap_id"] or "")[:500]
        meeting.updated_at = timezone.now()
        meeting.save()
        if "attendees" in changes or "absentees" in changes:
            current = list(meeting.attendance.select_related("actor"))
            attendees = changes.get("attendees", [r.actor for r in current if r.present])
            absentees = changes.get("absentees", {r.actor: r.reason for r in current if not r.present})
            _set_attendance(meeting, list(attendees), dict(absentees))
    return meeting


def _sniff(upload: UploadedFile) -> tuple[str, str]:
    """(content type, extension) from the file's first bytes and name; RecordError if refused."""
    head = upload.read(16)
    upload.seek(0)
    name = (upload.name or "").lower()
    for magic, ctype, ext in _SIGNATURES:
        if head.startswith(magic):
            if ctype == "application/zip":
                ext = next((e for e in _OFFICE if name.endswith(e)), "")
                if not ext:
                    break
                return _OFFICE[ext], ext
            return ctype, ext
    if name.endswith(".txt"):
        try:
            upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError(_("text attachments must be UTF-8"), "attachment") from None
        finally:
            upload.seek(0)
        return "text/plain", ".txt"
    raise RecordError(_("attachments may be PDF, images, text or office documents"), "attachment")


def add_attachment(actor: Actor, meeting: Meeting, upload: UploadedFile) -> MeetingAttachment:
    """Attach a file to a meeting (officers with ``records``). The type is taken from the file's
    content, never from the client; too large or unknown files raise :class:`RecordError`."""
    _can_write(actor, meeting.group)
    if (upload.size or 0) > max_attachment_bytes():
        raise RecordError(_("the attachment is too large"), "attachment")
    ctype, ext = _sniff(upload)
    name = clean_text(upload.name or "attachment", 200) or "attachment"
    row = MeetingAttachment(meeting=meeting, name=name, content_type=ctype, size=upload.size or 0, uploaded_by=actor)
    row.file.save(f"meeting-{meeting.pk}{ext}", upload, save=False)
    row.save()
    return row


# ---------------------------------------------------------------- reading (members only)


def can_read(viewer: Actor | None, group: Group | Actor) -> bool:
    """True when ``viewer`` may read the group's meeting records: active members only."""
    return viewer is not None and is_member(viewer, group)


def meetings_for(viewer: Actor | None, group: Group | Actor, *, year: int | None = None) -> QuerySet[Meeting]:
    """The group's meetings, newest first; ``PermissionDenied`` unless ``viewer`` is an active member."""
    group = as_group(group)
    if not can_read(viewer, group):
        raise PermissionDenied("meeting records are for members only")
    query = Meeting.objects.filter(group=group).prefetch_related("attendance__actor", "attachments")
    if year is not None:
        query = query.filter(held_on__year=year)
    return query


def get_meeting_for(viewer: Actor | None, group: Group | Actor, meeting_id: int) -> Meeting:
    """A meeting of ``group`` readable by ``viewer``; ``Meeting.DoesNotExist`` when absent or
    not readable (same answer, so non-members learn nothing)."""
    group = as_group(group)
    if not can_read(viewer, group):
        raise Meeting.DoesNotExist("no such meeting")
    return Meeting.objects.prefetch_related("attendance__actor", "attachments").get(group=group, pk=meeting_id)


def yearly_counts(group: Group | Actor) -> dict[int, dict[str, int]]:
    """``{year: {kind: count}}`` for every year with a meeting; each configured kind appears
    (0 when none), so a branch sees at a glance which of the required meetings it missed."""
    group = as_group(group)
    rows = (
        Meeting.objects.filter(group=group)
        .annotate(year=ExtractYear("held_on"))
        .values("year", "kind")
        .annotate(n=Count("pk"))
    )
    out: dict[int, dict[str, int]] = {}
    for row in rows:
        year = out.setdefault(int(row["year"]), dict.fromkeys(meeting_kinds(), 0))
        year[row["kind"]] = year.get(row["kind"], 0) + int(row["n"])
    return dict(sorted(out.items(), reverse=True))


def meeting_to_dict(meeting: Meeting) -> dict[str, Any]:
    """The JSON shape of a meeting for the client API (members only; never federated)."""
    rows = list(meeting.attendance.all())
    return {
        "id": str(meeting.pk),
        "group_id": str(meeting.group_id),
        "kind": meeting.kind,
        "title": meeting.title,
        "held_on": meeting.held_on.isoformat(),
        "place": meeting.place,
        "topics": list(meeting.topics),
        "minutes": meeting.minutes,
        "event": meeting.event_ap_id or None,
        "attendees": [{"id": str(r.actor_id), "acct": r.actor.handle} for r in rows if r.present],
        "absentees": [
            {"id": str(r.actor_id), "acct": r.actor.handle, "reason": r.reason} for r in rows if not r.present
        ],
        "attachments": [
            {"id": str(a.pk), "name": a.name, "content_type": a.content_type, "size": a.size}
            for a in meeting.attachments.all()
        ],
        "created_at": meeting.created_at.isoformat(),
        "updated_at": meeting.updated_at.isoformat(),
    }

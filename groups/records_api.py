"""Client API for meeting records, dues and transfers (``/api/v1/groups/:id/meetings|dues|transfers``
and ``/api/v1/transfers``). Members-only data: a group's records answer 404 to non-members (same
answer as a missing group), writes without the permission answer 403 and store nothing.
Routes: ``groups.records_views.urlpatterns``; documented in ``docs/openapi*.yaml``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from federation.models import Actor
from groups import dues, exports, records, services, transfers
from groups.models import Group, Transfer
from microblog.api import errors
from microblog.api.auth import api_view, param_int, param_list, param_str

READ = "read"
WRITE = "write"


def _group(group_id: int) -> Group:
    return Group.objects.select_related("actor").get(pk=group_id, actor__local=True)


def _actor_param(value: Any) -> Actor:
    """An account by id (``account_id``) — 422 when unknown."""
    pk = param_int(value)
    actor = Actor.objects.filter(pk=pk).first() if pk is not None else None
    if actor is None:
        raise errors.ValidationFailed("unknown account")
    return actor


def _file(data: bytes, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _readable(request: HttpRequest, group_id: int) -> Group:
    """The group when the caller may read its records, else 404 (non-members learn nothing)."""
    group = _group(group_id)
    if not records.can_read(request.actor, group):  # type: ignore[attr-defined]
        raise errors.NotFound()
    return group


# ---------------------------------------------------------------- meetings


def _meeting_fields(params: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("kind", "held_on", "place", "title", "minutes", "event_ap_id"):
        if name in params:
            fields[name] = param_str(params[name])
    if "topics" in params:
        fields["topics"] = [str(t) for t in param_list(params["topics"])]
    if "attendee_ids" in params:
        fields["attendees"] = [_actor_param(v) for v in param_list(params["attendee_ids"])]
    if "absentees" in params:
        absent = {}
        for item in param_list(params["absentees"]):
            if isinstance(item, dict):
                absent[_actor_param(item.get("id"))] = str(item.get("reason", ""))
            else:
                absent[_actor_param(item)] = ""
        fields["absentees"] = absent
    return fields


@api_view({"GET": READ, "POST": WRITE}, methods=["GET", "POST"])
def meetings(request: HttpRequest, group_id: int) -> Any:
    """GET: the group's meetings (``?year=``), members only. POST: record one (``records`` perm)."""
    group = _readable(request, group_id)
    if request.method == "POST":
        fields = _meeting_fields(request.params)  # type: ignore[attr-defined]
        try:
            meeting = records.create_meeting(
                request.actor,  # type: ignore[attr-defined]
                group,
                kind=fields.pop("kind", ""),
                held_on=fields.pop("held_on", ""),
                **fields,
            )
        except records.RecordError as exc:
            raise errors.ValidationFailed(str(exc)) from exc
        return records.meeting_to_dict(meeting)
    year = param_int(request.params.get("year"))  # type: ignore[attr-defined]
    return [records.meeting_to_dict(m) for m in records.meetings_for(request.actor, group, year=year)]  # type: ignore[attr-defined]


@api_view({"GET": READ, "PATCH": WRITE, "PUT": WRITE}, methods=["GET", "PATCH", "PUT"])
def meeting_detail(request: HttpRequest, group_id: int, meeting_id: int) -> Any:
    """GET one meeting (members); PATCH/PUT edits it (``records`` perm)."""
    group = _readable(request, group_id)
    meeting = records.get_meeting_for(request.actor, group, meeting_id)  # type: ignore[attr-defined]
    if request.method in ("PATCH", "PUT"):
        try:
            meeting = records.update_meeting(request.actor, meeting, **_meeting_fields(request.params))  # type: ignore[attr-defined]
        except records.RecordError as exc:
            raise errors.ValidationFailed(str(exc)) from exc
        meeting = records.get_meeting_for(request.actor, group, meeting.pk)  # type: ignore[attr-defined]
    return records.meeting_to_dict(meeting)


@api_view(READ)
def meeting_counts(request: HttpRequest, group_id: int) -> Any:
    """Per-year counts by kind (members only)."""
    group = _readable(request, group_id)
    return {str(year): kinds for year, kinds in records.yearly_counts(group).items()}


@api_view(READ)
def meetings_export(request: HttpRequest, group_id: int, fmt: str) -> HttpResponse:
    """CSV or PDF of the group's meetings (``?year=``; members only)."""
    group = _readable(request, group_id)
    if fmt not in ("csv", "pdf"):
        raise errors.NotFound()
    year = param_int(request.params.get("year"))  # type: ignore[attr-defined]
    rows = records.meetings_for(request.actor, group, year=year)  # type: ignore[attr-defined]
    name = f"{group.actor.username}-meetings{'-' + str(year) if year else ''}"
    if fmt == "pdf":
        return _file(exports.meetings_pdf(group, rows), "application/pdf", f"{name}.pdf")
    return _file(exports.meetings_csv(rows), "text/csv; charset=utf-8", f"{name}.csv")


@api_view(READ)
def meeting_pdf(request: HttpRequest, group_id: int, meeting_id: int) -> HttpResponse:
    """PDF of one meeting (members only)."""
    group = _readable(request, group_id)
    meeting = records.get_meeting_for(request.actor, group, meeting_id)  # type: ignore[attr-defined]
    return _file(exports.meetings_pdf(group, [meeting]), "application/pdf", f"meeting-{meeting.pk}.pdf")


# ---------------------------------------------------------------- dues


@api_view({"GET": READ, "POST": WRITE}, methods=["GET", "POST"])
def dues_view(request: HttpRequest, group_id: int) -> Any:
    """GET: the caller's dues history (officers: ``?account_id=`` for anyone's). POST: record a
    member-month (``dues`` perm): ``account_id, month, amount_due, amount_paid, paid_on, method, note``."""
    group = _group(group_id)
    params = request.params  # type: ignore[attr-defined]
    viewer = request.actor  # type: ignore[attr-defined]
    if request.method == "POST":
        member = _actor_param(params.get("account_id"))
        try:
            record = dues.record_dues(
                viewer,
                group,
                member,
                month=param_str(params.get("month")),
                amount_due=param_str(params.get("amount_due"), "0"),
                amount_paid=param_str(params.get("amount_paid"), "0"),
                paid_on=param_str(params.get("paid_on")) or None,
                method=param_str(params.get("method")),
                note=param_str(params.get("note")),
            )
        except dues.DuesError as exc:
            raise errors.ValidationFailed(str(exc)) from exc
        return dues.record_to_dict(record)
    member = _actor_param(params["account_id"]) if params.get("account_id") else viewer
    if services.membership_of(viewer, group) is None:
        raise errors.NotFound()  # outsiders learn nothing
    return [dues.record_to_dict(r) for r in dues.history_for(viewer, group, member)]


@api_view(READ)
def dues_summary(request: HttpRequest, group_id: int) -> Any:
    """The yearly summary (``?year=``, default this year) for officers with ``dues``."""
    group = _group(group_id)
    year = param_int(request.params.get("year")) or int(dues.current_month()[:4])  # type: ignore[attr-defined]
    return dues.summary_to_dict(dues.yearly_summary(request.actor, group, year))  # type: ignore[attr-defined]


@api_view(READ)
def dues_export(request: HttpRequest, group_id: int) -> HttpResponse:
    """CSV of the group's dues (``?year=``), officers with ``dues`` only."""
    group = _group(group_id)
    year = param_int(request.params.get("year"))  # type: ignore[attr-defined]
    rows = dues.group_records(request.actor, group, year=year)  # type: ignore[attr-defined]
    return _file(exports.dues_csv(rows), "text/csv; charset=utf-8", f"{group.actor.username}-dues.csv")


# ---------------------------------------------------------------- transfers


@api_view({"GET": READ, "POST": WRITE}, methods=["GET", "POST"])
def group_transfers(request: HttpRequest, group_id: int) -> Any:
    """GET: transfers into/out of the group (officers with ``transfer``). POST: ask to move
    ``account_id`` (default: the caller) to ``target`` (a local group id, ``group@domain`` or an
    actor URL), with an optional ``reason``."""
    group = _group(group_id)
    viewer = request.actor  # type: ignore[attr-defined]
    if request.method == "GET":
        return [transfers.transfer_to_dict(t) for t in transfers.group_transfers(viewer, group)]
    params = request.params  # type: ignore[attr-defined]
    member = _actor_param(params["account_id"]) if params.get("account_id") else viewer
    target_text = param_str(params.get("target"))
    target: Any = target_text
    if target_text.isdigit():
        target = Group.objects.filter(pk=int(target_text), actor__local=True).first()
        if target is None:
            raise errors.ValidationFailed("unknown target group")
    if not target_text:
        raise errors.ValidationFailed("target can't be blank")
    try:
        transfer = transfers.request_transfer(viewer, member, group, target, reason=param_str(params.get("reason")))
    except transfers.TransferError as exc:
        raise errors.ValidationFailed(str(exc)) from exc
    return transfers.transfer_to_dict(transfer)


@api_view(READ)
def my_transfers(request: HttpRequest) -> Any:
    """The caller's own transfers with their status."""
    return [transfers.transfer_to_dict(t) for t in transfers.transfers_for(request.actor)]  # type: ignore[attr-defined]


@api_view(READ)
def transfer_detail(request: HttpRequest, transfer_id: int) -> Any:
    """One transfer (the member or an officer of a local side)."""
    return transfers.transfer_to_dict(transfers.get_transfer_for(request.actor, transfer_id))  # type: ignore[attr-defined]


DECISIONS = {
    "approve": transfers.approve_transfer,
    "decline": transfers.decline_transfer,
    "cancel": transfers.cancel_transfer,
    "accept": transfers.accept_transfer,
    "reject": transfers.reject_transfer,
}


@api_view(WRITE, methods=["POST"])
def transfer_decide(request: HttpRequest, transfer_id: int, decision: str) -> Any:
    """``approve``/``decline`` (source officers), ``cancel`` (member), ``accept``/``reject``
    (target officers). 403 without the right, 422 in the wrong state."""
    action = DECISIONS.get(decision)
    if action is None:
        raise errors.NotFound()
    viewer = request.actor  # type: ignore[attr-defined]
    try:
        transfer = transfers.get_transfer_for(viewer, transfer_id)
    except Transfer.DoesNotExist:
        raise errors.NotFound() from None
    try:
        transfer = action(viewer, transfer)
    except transfers.TransferError as exc:
        raise errors.ValidationFailed(str(exc)) from exc
    except PermissionDenied:
        raise
    return transfers.transfer_to_dict(transfer)

"""HTML pages for meeting records, dues and transfers (mobile-first, translated), and the routes
of these pages and of their client API (``groups.records_api``).

Members-only pages answer 404 to anyone else, and to requests asking for ActivityPub: minutes,
dues and transfers have no AS2 representation and never leave the node.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from federation.models import Actor
from federation.vocab import wants_activitypub
from groups import dues, exports, records, records_api, services, transfers
from groups.models import Group, Meeting, Transfer


def _viewer(request: HttpRequest) -> Actor | None:
    if not request.user.is_authenticated:
        return None
    return Actor.objects.filter(user=request.user, local=True).first()


def _members_group(request: HttpRequest, name: str) -> tuple[Group, Actor]:
    """The local group and the viewer when the viewer is a member (any state with a record for
    dues; active for the rest is checked by the callers' services); else 404."""
    if wants_activitypub(request.headers.get("Accept", "")):
        raise Http404  # records have no AS2 representation
    group = Group.objects.select_related("actor").filter(actor__username=name, actor__local=True).first()
    viewer = _viewer(request)
    if group is None or viewer is None or services.membership_of(viewer, group) is None:
        raise Http404
    return group, viewer


def _reader_group(request: HttpRequest, name: str) -> tuple[Group, Actor]:
    group, viewer = _members_group(request, name)
    if not records.can_read(viewer, group):
        raise Http404
    return group, viewer


def _file(data: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _year(request: HttpRequest) -> int | None:
    value = request.GET.get("year", "")
    return int(value) if value.isdigit() and len(value) == 4 else None


# ---------------------------------------------------------------- meetings


@login_required
def meetings_page(request: HttpRequest, name: str) -> HttpResponse:
    """List (``?year=``) with per-year counts; officers get a form to record a meeting (POST)."""
    group, viewer = _reader_group(request, name)
    can_write = services.has_perm(viewer, group, "records")
    members = list(services.active_members(group))
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied
        post = request.POST
        attendees = [m.actor for m in members if post.get(f"present_{m.actor_id}")]
        absentees = {m.actor: post.get(f"reason_{m.actor_id}", "") for m in members if m.actor not in attendees}
        try:
            meeting = records.create_meeting(
                viewer,
                group,
                kind=post.get("kind", ""),
                held_on=post.get("held_on", ""),
                place=post.get("place", ""),
                title=post.get("title", ""),
                topics=post.get("topics", ""),
                minutes=post.get("minutes", ""),
                attendees=attendees,
                absentees=absentees,
                event_ap_id=post.get("event_ap_id", ""),
            )
        except records.RecordError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("group_meeting", name=name, meeting_id=meeting.pk)
    context = {
        "group": group,
        "meetings": records.meetings_for(viewer, group, year=_year(request)),
        "counts": records.yearly_counts(group),
        "kinds": records.meeting_kinds(),
        "can_write": can_write,
        "members": members,
        "year": _year(request),
    }
    return render(request, "groups/records/meetings.html", context)


@login_required
def meeting_page(request: HttpRequest, name: str, meeting_id: int) -> HttpResponse:
    """One meeting for members; officers may attach a file (POST, multipart)."""
    group, viewer = _reader_group(request, name)
    try:
        meeting = records.get_meeting_for(viewer, group, meeting_id)
    except Meeting.DoesNotExist:
        raise Http404 from None
    can_write = services.has_perm(viewer, group, "records")
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied
        upload = request.FILES.get("attachment")
        if upload is not None:
            try:
                records.add_attachment(viewer, meeting, upload)
            except records.RecordError as exc:
                messages.error(request, str(exc))
        return redirect("group_meeting", name=name, meeting_id=meeting.pk)
    return render(request, "groups/records/meeting.html", {"group": group, "meeting": meeting, "can_write": can_write})


@login_required
def meeting_attachment(request: HttpRequest, name: str, meeting_id: int, attachment_id: int) -> HttpResponse:
    """An attachment, served to members only (never from the public media URL)."""
    group, viewer = _reader_group(request, name)
    try:
        meeting = records.get_meeting_for(viewer, group, meeting_id)
    except Meeting.DoesNotExist:
        raise Http404 from None
    row = meeting.attachments.filter(pk=attachment_id).first()
    if row is None:
        raise Http404
    with row.file.open("rb") as handle:
        return _file(handle.read(), row.content_type, row.file.name.rsplit("/", 1)[-1])


@login_required
def meetings_export(request: HttpRequest, name: str, fmt: str) -> HttpResponse:
    """CSV or PDF of the meetings (``?year=``), members only."""
    group, viewer = _reader_group(request, name)
    if fmt not in ("csv", "pdf"):
        raise Http404
    rows = records.meetings_for(viewer, group, year=_year(request))
    if fmt == "pdf":
        return _file(exports.meetings_pdf(group, rows), "application/pdf", f"{name}-meetings.pdf")
    return _file(exports.meetings_csv(rows), "text/csv; charset=utf-8", f"{name}-meetings.csv")


# ---------------------------------------------------------------- dues


@login_required
def dues_page(request: HttpRequest, name: str) -> HttpResponse:
    """The member's own history with arrears highlighted; officers also see the year's summary
    and table, and record payments (POST)."""
    group, viewer = _members_group(request, name)
    is_officer = services.has_perm(viewer, group, "dues")
    if request.method == "POST":
        if not is_officer:
            raise PermissionDenied
        member = Actor.objects.filter(pk=request.POST.get("account_id", "0") or 0).first()
        try:
            if member is None:
                raise dues.DuesError(_("Choose a member."))
            dues.record_dues(
                viewer,
                group,
                member,
                month=request.POST.get("month", ""),
                amount_due=request.POST.get("amount_due", "0"),
                amount_paid=request.POST.get("amount_paid", "0"),
                paid_on=request.POST.get("paid_on", "") or None,
                method=request.POST.get("method", ""),
            )
        except dues.DuesError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Saved."))
        return redirect("group_dues", name=name)
    year = _year(request) or int(dues.current_month()[:4])
    this_month = dues.current_month()
    own = [(r, dues.in_arrears(r, today_month=this_month)) for r in dues.history_for(viewer, group)]
    context = {"group": group, "own": own, "is_officer": is_officer, "year": year}
    if is_officer:
        context["summary"] = dues.yearly_summary(viewer, group, year)
        context["members"] = list(services.active_members(group))
        context["this_month"] = this_month
    return render(request, "groups/records/dues.html", context)


@login_required
def dues_export(request: HttpRequest, name: str) -> HttpResponse:
    """CSV of the group's dues (officers with ``dues``)."""
    group, viewer = _members_group(request, name)
    rows = dues.group_records(viewer, group, year=_year(request))
    return _file(exports.dues_csv(rows), "text/csv; charset=utf-8", f"{name}-dues.csv")


# ---------------------------------------------------------------- transfers


@login_required
def transfers_page(request: HttpRequest, name: str) -> HttpResponse:
    """The member's transfers with their status and a request form (POST); officers with
    ``transfer`` see the group's incoming and outgoing transfers with their decisions."""
    group, viewer = _members_group(request, name)
    if request.method == "POST":
        target = request.POST.get("target", "").strip()
        local = Group.objects.filter(actor__username=target, actor__local=True).first()
        try:
            transfers.request_transfer(viewer, viewer, group, local or target, reason=request.POST.get("reason", ""))
        except transfers.TransferError as exc:
            messages.error(request, str(exc))
        return redirect("group_transfers", name=name)
    officer = services.has_perm(viewer, group, "transfer")
    context = {
        "group": group,
        "mine": transfers.transfers_for(viewer),
        "group_transfers": transfers.group_transfers(viewer, group) if officer else None,
        "is_member": services.is_member(viewer, group),
    }
    return render(request, "groups/records/transfers.html", context)


@login_required
@require_POST
def transfer_decide(request: HttpRequest, name: str, transfer_id: int, decision: str) -> HttpResponse:
    """Approve/decline/cancel/accept/reject from the transfers page."""
    group, viewer = _members_group(request, name)
    action = records_api.DECISIONS.get(decision)
    try:
        transfer = transfers.get_transfer_for(viewer, transfer_id)
    except Transfer.DoesNotExist:
        raise Http404 from None
    if action is None:
        raise Http404
    try:
        action(viewer, transfer)
    except transfers.TransferError as exc:
        messages.error(request, str(exc))
    return redirect("group_transfers", name=group.actor.username)


# ---------------------------------------------------------------- routes (included by groups/urls.py)

G = "g/<str:name>"
A = "api/v1/groups/<int:group_id>"
urlpatterns = [
    path(f"{G}/meetings", meetings_page, name="group_meetings"),
    path(f"{G}/meetings/export.<str:fmt>", meetings_export, name="group_meetings_export"),
    path(f"{G}/meetings/<int:meeting_id>", meeting_page, name="group_meeting"),
    path(f"{G}/meetings/<int:meeting_id>/files/<int:attachment_id>", meeting_attachment, name="group_meeting_file"),
    path(f"{G}/dues", dues_page, name="group_dues"),
    path(f"{G}/dues/export.csv", dues_export, name="group_dues_export"),
    path(f"{G}/transfers", transfers_page, name="group_transfers"),
    path(f"{G}/transfers/<int:transfer_id>/<str:decision>", transfer_decide, name="group_transfer_decide"),
    path(f"{A}/meetings", records_api.meetings, name="api-group-meetings"),
    path(f"{A}/meetings/counts", records_api.meeting_counts, name="api-group-meeting-counts"),
    path(f"{A}/meetings/export.<str:fmt>", records_api.meetings_export, name="api-group-meetings-export"),
    path(f"{A}/meetings/<int:meeting_id>", records_api.meeting_detail, name="api-group-meeting"),
    path(f"{A}/meetings/<int:meeting_id>/export.pdf", records_api.meeting_pdf, name="api-group-meeting-pdf"),
    path(f"{A}/dues", records_api.dues_view, name="api-group-dues"),
    path(f"{A}/dues/summary", records_api.dues_summary, name="api-group-dues-summary"),
    path(f"{A}/dues/export.csv", records_api.dues_export, name="api-group-dues-export"),
    path(f"{A}/transfers", records_api.group_transfers, name="api-group-transfers"),
    path("api/v1/transfers", records_api.my_transfers, name="api-transfers"),
    path("api/v1/transfers/<int:transfer_id>", records_api.transfer_detail, name="api-transfer"),
    path("api/v1/transfers/<int:transfer_id>/<str:decision>", records_api.transfer_decide, name="api-transfer-decide"),
]

"""Meeting records: officers write, members read, nobody else; counts and CSV/PDF exports."""

from __future__ import annotations

import re
import zlib
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from groups import exports, records
from groups.models import Meeting, MeetingAttachment
from tests.microblog.api.conftest import make_token, oauth_app  # noqa: F401 - fixtures


@pytest.fixture
def branch(make_group, make_member, make_local_member, secretary):
    """A branch with its secretary (officer), an ordinary member and an outsider."""
    group = make_group("branch1", secretary=secretary)
    member = make_local_member("mem")
    make_member(group, member)
    outsider = make_local_member("out")
    return group, secretary, member, outsider


def _meeting(group, officer, **kw):
    kw.setdefault("kind", "member_assembly")
    kw.setdefault("held_on", "2025-03-01")
    return records.create_meeting(officer, group, **kw)


def test_create_meeting_officer_records_attendance(branch):
    """An officer records a meeting with attendees, absentees (reason), topics and sanitised minutes."""
    group, sec, member, _ = branch
    meeting = _meeting(
        group,
        sec,
        place="村委会",
        topics="学习文件\n发展党员",
        minutes="<script>x()</script>讨论了<b>两项</b>议题",
        attendees=[sec],
        absentees={member: "外出务工"},
    )
    data = records.meeting_to_dict(meeting)
    assert data["topics"] == ["学习文件", "发展党员"]
    assert "<" not in data["minutes"] and "两项" in data["minutes"] and "x()" not in data["minutes"]
    assert [a["acct"] for a in data["attendees"]] == [sec.handle]
    assert data["absentees"][0]["reason"] == "外出务工"


def test_create_meeting_refused_for_plain_member(branch):
    """A member without the records permission cannot create a meeting; nothing is stored."""
    group, _, member, outsider = branch
    for actor in (member, outsider):
        with pytest.raises(PermissionDenied):
            _meeting(group, actor)
    assert not Meeting.objects.exists()


def test_create_meeting_refused_for_unknown_kind_or_stranger(branch):
    """An unknown kind, a bad date or a non-member attendee is refused and nothing is stored."""
    group, sec, _, outsider = branch
    with pytest.raises(records.RecordError):
        _meeting(group, sec, kind="party")
    with pytest.raises(records.RecordError):
        _meeting(group, sec, held_on="2025-13-01")
    with pytest.raises(records.RecordError):
        _meeting(group, sec, attendees=[outsider])
    assert not Meeting.objects.exists()


def test_officer_of_other_group_cannot_write_or_read(branch, make_group):
    """The secretary of another group has no rights on this group's records."""
    group, sec, _, _ = branch
    other = make_group("branch2")
    other_sec = other.memberships.get().actor
    meeting = _meeting(group, sec)
    with pytest.raises(PermissionDenied):
        _meeting(group, other_sec)
    with pytest.raises(Meeting.DoesNotExist):
        records.get_meeting_for(other_sec, group, meeting.pk)
    assert Meeting.objects.count() == 1


def test_members_read_non_members_do_not(branch):
    """Active members list and read meetings; outsiders get PermissionDenied / DoesNotExist."""
    group, sec, member, outsider = branch
    meeting = _meeting(group, sec)
    assert list(records.meetings_for(member, group)) == [meeting]
    assert records.get_meeting_for(member, group, meeting.pk) == meeting
    with pytest.raises(PermissionDenied):
        records.meetings_for(outsider, group)
    with pytest.raises(Meeting.DoesNotExist):
        records.get_meeting_for(outsider, group, meeting.pk)


def test_yearly_counts_by_kind(branch):
    """Per-year counts list every configured kind, zero when none was held."""
    group, sec, _, _ = branch
    _meeting(group, sec, held_on="2024-05-01")
    _meeting(group, sec, held_on="2025-01-10")
    _meeting(group, sec, held_on=date(2025, 2, 10))
    _meeting(group, sec, held_on="2025-04-10", kind="party_lecture")
    counts = records.yearly_counts(group)
    assert list(counts) == [2025, 2024]
    assert counts[2025]["member_assembly"] == 2 and counts[2025]["party_lecture"] == 1
    assert counts[2025]["committee_meeting"] == 0 and counts[2024]["member_assembly"] == 1


def test_attachment_checked_by_content(branch, settings, tmp_path):
    """A PDF attachment is stored with its sniffed type; an executable is refused; too big is refused."""
    settings.MEDIA_ROOT = str(tmp_path)
    group, sec, member, _ = branch
    meeting = _meeting(group, sec)
    row = records.add_attachment(sec, meeting, SimpleUploadedFile("纪要.pdf", b"%PDF-1.4 test", "text/html"))
    assert row.content_type == "application/pdf" and row.size == 13
    with pytest.raises(records.RecordError):
        records.add_attachment(sec, meeting, SimpleUploadedFile("x.pdf", b"MZ\x90\x00", "application/pdf"))
    settings.GROUPS_MAX_ATTACHMENT_BYTES = 4
    with pytest.raises(records.RecordError):
        records.add_attachment(sec, meeting, SimpleUploadedFile("y.pdf", b"%PDF-1.4", "application/pdf"))
    with pytest.raises(PermissionDenied):
        records.add_attachment(member, meeting, SimpleUploadedFile("z.pdf", b"%PDF", "application/pdf"))
    assert MeetingAttachment.objects.count() == 1


def test_meetings_csv_has_bom_and_neutralises_formulas(branch):
    """The CSV export starts with a BOM, carries Chinese text and defuses formula cells."""
    group, sec, member, _ = branch
    _meeting(group, sec, title="=HYPERLINK(1)", place="支部活动室", absentees={member: "病假"})
    body = exports.meetings_csv(records.meetings_for(sec, group)).decode("utf-8")
    assert body.startswith("\ufeffdate,kind")
    assert "支部活动室" in body and "'=HYPERLINK(1)" in body and "病假" in body


def _pdf_text_codes(pdf: bytes) -> str:
    """All decompressed stream text of a PDF (ToUnicode maps included)."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(match.group(1)).decode("latin-1"))
        except zlib.error:
            out.append(match.group(1).decode("latin-1"))
    return "\n".join(out)


def test_meetings_pdf_renders_chinese(branch):
    """The PDF export is a PDF whose font maps the Chinese characters of the record."""
    group, sec, _, _ = branch
    _meeting(group, sec, place="村委会", minutes="学习讨论")
    pdf = exports.meetings_pdf(group, records.meetings_for(sec, group))
    assert pdf.startswith(b"%PDF") and b"/Type /Page" in pdf
    text = _pdf_text_codes(pdf).upper()
    if exports.DEFAULT_FONT and __import__("os").path.exists(exports.DEFAULT_FONT):
        for char in "村委会学习":
            assert f"{ord(char):04X}" in text  # the ToUnicode map of the embedded CJK subset


# ---------------------------------------------------------------- HTML and API


def test_api_meetings_members_only(branch, make_token):  # noqa: F811
    """Over the API an officer creates, a member reads, a member cannot create, an outsider gets 404."""
    group, sec, member, outsider = branch
    base = f"/api/v1/groups/{group.pk}/meetings"
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {make_token(sec)}"}
    created = client.post(
        base,
        {"kind": "committee_meeting", "held_on": "2025-06-01", "topics": ["预算"]},
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 200, created.content
    mid = created.json()["id"]
    as_member = {"HTTP_AUTHORIZATION": f"Bearer {make_token(member)}"}
    assert client.get(f"{base}/{mid}", **as_member).json()["topics"] == ["预算"]
    refused = client.post(
        base, {"kind": "committee_meeting", "held_on": "2025-06-02"}, content_type="application/json", **as_member
    )
    assert refused.status_code == 403 and Meeting.objects.count() == 1
    as_out = {"HTTP_AUTHORIZATION": f"Bearer {make_token(outsider)}"}
    assert client.get(f"{base}/{mid}", **as_out).status_code == 404
    assert client.get(base, **as_out).status_code == 404
    assert client.get(f"{base}/export.csv", **as_out).status_code == 404
    pdf = client.get(f"{base}/export.pdf", **as_member)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    counts = client.get(f"{base}/counts", **as_member).json()
    assert counts["2025"]["committee_meeting"] == 1


def test_html_meetings_members_only_and_no_as2(branch, client):
    """The meetings page shows minutes to a member, never to an outsider or an AS2 request."""
    group, sec, member, outsider = branch
    meeting = _meeting(group, sec, minutes="秘密纪要内容")
    url = f"/g/{group.actor.username}/meetings/{meeting.pk}"
    client.force_login(member.user)
    assert "秘密纪要内容" in client.get(url).content.decode()
    as2 = client.get(url, HTTP_ACCEPT="application/activity+json")
    assert as2.status_code == 404 and "秘密纪要内容" not in as2.content.decode()
    client.force_login(outsider.user)
    page = client.get(url)
    assert page.status_code == 404 and "秘密纪要内容" not in page.content.decode()
    listing = client.get(f"/g/{group.actor.username}/meetings")
    assert listing.status_code == 404

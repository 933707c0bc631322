"""Dues records: validation, who sees what, arrears and yearly summary math, CSV, API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from groups import dues, exports
from groups.models import DuesRecord
from tests.microblog.api.conftest import make_token, oauth_app  # noqa: F401 - fixtures


@pytest.fixture
def branch(make_group, make_member, make_local_member, secretary):
    """A branch with its secretary, two members and an outsider."""
    group = make_group("branch1", secretary=secretary)
    a, b = make_local_member("mema"), make_local_member("memb")
    make_member(group, a)
    make_member(group, b)
    return group, secretary, a, b, make_local_member("out")


@pytest.fixture
def frozen_month(monkeypatch):
    """The current month is 2025-06 (arrears are judged against it)."""
    monkeypatch.setattr(dues, "current_month", lambda: "2025-06")


def test_record_dues_validates(branch):
    """Negative amounts, bad months and non-members are refused and nothing is stored."""
    group, sec, a, _, out = branch
    with pytest.raises(dues.DuesError):
        dues.record_dues(sec, group, a, month="2025-01", amount_due="-1")
    with pytest.raises(dues.DuesError):
        dues.record_dues(sec, group, a, month="2025-1", amount_due="1")
    with pytest.raises(dues.DuesError):
        dues.record_dues(sec, group, a, month="2025-13", amount_due="1")
    with pytest.raises(dues.DuesError):
        dues.record_dues(sec, group, a, month="2025-01", amount_due="abc")
    with pytest.raises(dues.DuesError):
        dues.record_dues(sec, group, out, month="2025-01", amount_due="1")
    assert not DuesRecord.objects.exists()


def test_record_dues_unique_per_member_month(branch):
    """Recording the same member-month again updates the one record, with Decimal cents."""
    group, sec, a, _, _ = branch
    dues.record_dues(sec, group, a, month="2025-01", amount_due="10", amount_paid="0")
    record = dues.record_dues(sec, group, a, month="2025-01", amount_due="10", amount_paid="10.005", method="现金")
    assert DuesRecord.objects.count() == 1
    assert record.amount_paid == Decimal("10.00") or record.amount_paid == Decimal("10.01")
    assert record.paid_on is not None and record.recorded_by == sec and record.method == "现金"


def test_members_cannot_record_or_see_others(branch):
    """A member can't record dues nor see another member's; officers of another group neither."""
    group, sec, a, b, _ = branch
    dues.record_dues(sec, group, b, month="2025-01", amount_due="5")
    with pytest.raises(PermissionDenied):
        dues.record_dues(a, group, a, month="2025-01", amount_due="0")
    with pytest.raises(PermissionDenied):
        dues.history_for(a, group, b)
    with pytest.raises(PermissionDenied):
        dues.group_records(a, group)
    assert [r.month for r in dues.history_for(b, group)] == ["2025-01"]
    assert DuesRecord.objects.count() == 1


def test_officer_of_other_group_cannot_touch_dues(branch, make_group):
    """The secretary of another branch can neither record nor read this branch's dues."""
    group, _, a, _, _ = branch
    other_sec = make_group("branch2").memberships.get().actor
    with pytest.raises(PermissionDenied):
        dues.record_dues(other_sec, group, a, month="2025-01", amount_due="5")
    with pytest.raises(PermissionDenied):
        dues.yearly_summary(other_sec, group, 2025)
    assert not DuesRecord.objects.exists()


def test_yearly_summary_and_arrears(branch, frozen_month):
    """Totals add up; only past months paid short count as arrears; paid-up-to stops at a gap."""
    group, sec, a, b, _ = branch
    dues.record_dues(sec, group, a, month="2025-01", amount_due="10", amount_paid="10")
    dues.record_dues(sec, group, a, month="2025-02", amount_due="10", amount_paid="4")
    dues.record_dues(sec, group, a, month="2025-03", amount_due="10", amount_paid="10")
    dues.record_dues(sec, group, a, month="2025-06", amount_due="10", amount_paid="0")  # current: not late
    dues.record_dues(sec, group, b, month="2025-01", amount_due="2.50", amount_paid="2.50")
    dues.record_dues(sec, group, b, month="2024-12", amount_due="99", amount_paid="0")  # other year
    summary = dues.yearly_summary(sec, group, 2025)
    assert (summary.due, summary.paid, summary.arrears) == (Decimal("42.50"), Decimal("26.50"), Decimal("6.00"))
    by = {m.actor: m for m in summary.members}
    assert by[a].months_in_arrears == ["2025-02"] and by[b].arrears == Decimal("0")
    assert dues.paid_up_to(group, a) == "2025-01"
    flags = {r.month: dues.in_arrears(r) for r in dues.history_for(a, group)}
    assert flags == {"2025-06": False, "2025-03": False, "2025-02": True, "2025-01": False}


def test_dues_csv(branch, frozen_month):
    """The CSV lists each member-month with decimal amounts and the arrears flag."""
    group, sec, a, _, _ = branch
    dues.record_dues(sec, group, a, month="2025-02", amount_due="10", amount_paid="4")
    body = exports.dues_csv(dues.group_records(sec, group)).decode("utf-8").splitlines()
    assert body[0] == "\ufeffaccount,month,amount_due,amount_paid,paid_on,method,recorded_by,arrears"
    assert body[1].startswith(f"{a.handle},2025-02,10.00,4.00,") and body[1].endswith(",yes")


def test_api_dues(branch, make_token, frozen_month):  # noqa: F811
    """API: an officer records, a member sees only their own history, a member can't record (403, nothing stored)."""
    group, sec, a, b, _ = branch
    base = f"/api/v1/groups/{group.pk}/dues"
    client = Client()
    officer = {"HTTP_AUTHORIZATION": f"Bearer {make_token(sec)}"}
    made = client.post(
        base, {"account_id": str(a.pk), "month": "2025-02", "amount_due": "10", "amount_paid": "4"},
        content_type="application/json", **officer,
    )  # fmt: skip
    assert made.status_code == 200, made.content
    assert made.json()["arrears"] is True
    bad = client.post(
        base,
        {"account_id": str(a.pk), "month": "2025-02", "amount_due": "-3"},
        content_type="application/json",
        **officer,
    )
    assert bad.status_code == 422
    as_a = {"HTTP_AUTHORIZATION": f"Bearer {make_token(a)}"}
    mine = client.get(base, **as_a).json()
    assert [r["month"] for r in mine] == ["2025-02"]
    as_b = {"HTTP_AUTHORIZATION": f"Bearer {make_token(b)}"}
    assert client.get(base, **as_b).json() == []
    assert client.get(f"{base}?account_id={a.pk}", **as_b).status_code == 403
    refused = client.post(
        base, {"account_id": str(b.pk), "month": "2025-03", "amount_due": "1"}, content_type="application/json", **as_b
    )
    assert refused.status_code == 403 and DuesRecord.objects.count() == 1
    summary = client.get(f"{base}/summary?year=2025", **officer).json()
    assert summary["arrears"] == "6.00"
    assert client.get(f"{base}/summary?year=2025", **as_a).status_code == 403
    csv = client.get(f"{base}/export.csv?year=2025", **officer)
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")


def test_dues_page_highlights_arrears_and_hides_others(branch, client, frozen_month):
    """The dues page shows a member their own arrears, officers the summary; outsiders get 404, AS2 gets 404."""
    group, sec, a, b, out = branch
    dues.record_dues(sec, group, a, month="2025-02", amount_due="10", amount_paid="4")
    dues.record_dues(sec, group, b, month="2025-02", amount_due="77.77", amount_paid="0")
    url = f"/g/{group.actor.username}/dues"
    client.force_login(a.user)
    page = client.get(url).content.decode()
    assert 'class="arrears"' in page and "77.77" not in page
    assert client.post(url, {"account_id": a.pk, "month": "2025-03", "amount_due": "1"}).status_code == 403
    assert client.get(url, HTTP_ACCEPT="application/activity+json").status_code == 404
    client.force_login(sec.user)
    assert "77.77" in client.get(url).content.decode()
    client.post(url, {"account_id": a.pk, "month": "2025-03", "amount_due": "1", "amount_paid": "1"})
    assert DuesRecord.objects.filter(actor=a, month="2025-03").exists()
    client.force_login(out.user)
    assert client.get(url).status_code == 404
    assert DuesRecord.objects.count() == 3

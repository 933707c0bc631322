"""Dues records of a local group: per member and month, amount due and paid, date, method and
the officer who recorded it. Record-keeping only: no payment is processed here.

Amounts are ``Decimal`` with two places, never negative; months are ``YYYY-MM``; one record per
member and month (recording again updates it). Members see their own history, officers with
the ``dues`` permission the whole group's. A past month whose paid amount is below the amount
due is in arrears. Dues never leave the node (the hub gets aggregates only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.models import Actor
from groups.models import DuesRecord, Group
from groups.records import clean_text
from groups.services import as_group, has_perm, membership_of

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("99999999.99")


class DuesError(ValueError):
    """Invalid dues data (negative amount, bad month, not a member...)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def parse_month(value: str) -> str:
    """``value`` if it is a ``YYYY-MM`` month, else :class:`DuesError`."""
    text = str(value or "").strip()
    if not MONTH.match(text):
        raise DuesError(_("the month must be YYYY-MM"), "month")
    return text


def parse_amount(value: Any, name: str) -> Decimal:
    """A non-negative amount rounded to cents; :class:`DuesError` when not a number or negative."""
    try:
        amount = Decimal(str(value).strip() or "0")
    except (InvalidOperation, ValueError):
        raise DuesError(_("%(field)s must be a number") % {"field": name}, name) from None
    if not amount.is_finite() or amount < 0:
        raise DuesError(_("%(field)s must not be negative") % {"field": name}, name)
    if amount > MAX_AMOUNT:
        raise DuesError(_("%(field)s is too large") % {"field": name}, name)
    return amount.quantize(CENT)


def current_month() -> str:
    """This month as ``YYYY-MM`` (node time zone)."""
    return timezone.localdate().strftime("%Y-%m")


def in_arrears(record: DuesRecord, *, today_month: str | None = None) -> bool:
    """True when the month is over (before this month) and less than the amount due was paid."""
    return record.month < (today_month or current_month()) and record.amount_paid < record.amount_due


def record_dues(
    officer: Actor,
    group: Group | Actor,
    member: Actor,
    *,
    month: str,
    amount_due: Any,
    amount_paid: Any = "0",
    paid_on: date | str | None = None,
    method: str = "",
    note: str = "",
) -> DuesRecord:
    """Create or update ``member``'s dues record for ``month`` in ``group``. Only an active
    member with the ``dues`` permission may (``PermissionDenied``); the member must belong to
    the group (any state, so past members' records can be completed). Invalid values raise
    :class:`DuesError` and change nothing."""
    group = as_group(group)
    if not has_perm(officer, group, "dues"):
        raise PermissionDenied("only officers may record dues")
    if membership_of(member, group) is None:
        raise DuesError(_("not a member of this group"), "account")
    month = parse_month(month)
    due = parse_amount(amount_due, "amount_due")
    paid = parse_amount(amount_paid, "amount_paid")
    if isinstance(paid_on, str):
        try:
            paid_on = date.fromisoformat(paid_on.strip()) if paid_on.strip() else None
        except ValueError:
            raise DuesError(_("the paid date must be YYYY-MM-DD"), "paid_on") from None
    if paid > 0 and paid_on is None:
        paid_on = timezone.localdate()
    with transaction.atomic():
        record, _created = DuesRecord.objects.update_or_create(
            group=group,
            actor=member,
            month=month,
            defaults={
                "amount_due": due,
                "amount_paid": paid,
                "paid_on": paid_on,
                "method": clean_text(method, 32),
                "note": clean_text(note, 200),
                "recorded_by": officer,
                "recorded_at": timezone.now(),
            },
        )
    return record


def history_for(viewer: Actor | None, group: Group | Actor, member: Actor | None = None) -> QuerySet[DuesRecord]:
    """Dues records of ``member`` (default: the viewer) in ``group``, newest month first. A
    member may see only their own; officers with ``dues`` anyone's (``PermissionDenied``)."""
    group = as_group(group)
    member = member or viewer
    if viewer is None or member is None:
        raise PermissionDenied("dues records are private")
    if member != viewer and not has_perm(viewer, group, "dues"):
        raise PermissionDenied("members see only their own dues")
    if member == viewer and membership_of(viewer, group) is None:
        raise PermissionDenied(_("not a member of this group"))
    return DuesRecord.objects.filter(group=group, actor=member).select_related("actor", "recorded_by")


def group_records(viewer: Actor | None, group: Group | Actor, *, year: int | None = None) -> QuerySet[DuesRecord]:
    """All dues records of ``group`` (optionally of one year); officers with ``dues`` only."""
    group = as_group(group)
    if not has_perm(viewer, group, "dues"):
        raise PermissionDenied("only officers see the group's dues")
    query = DuesRecord.objects.filter(group=group).select_related("actor", "recorded_by")
    if year is not None:
        query = query.filter(month__startswith=f"{year:04d}-")
    return query.order_by("actor__username", "month")


@dataclass
class MemberYear:
    """One member's totals for a year."""

    actor: Actor
    due: Decimal = Decimal("0.00")
    paid: Decimal = Decimal("0.00")
    arrears: Decimal = Decimal("0.00")  # unpaid amount of past months
    months_in_arrears: list[str] = field(default_factory=list)


@dataclass
class YearSummary:
    """A group's dues for one year: per member and totals."""

    year: int
    members: list[MemberYear]
    due: Decimal
    paid: Decimal
    arrears: Decimal


def yearly_summary(viewer: Actor | None, group: Group | Actor, year: int) -> YearSummary:
    """Totals due, paid and in arrears per member and for the group in ``year`` (officers
    with ``dues`` only). Arrears count past months only: the current month is not late yet."""
    this_month = current_month()
    per: dict[int, MemberYear] = {}
    for record in group_records(viewer, group, year=year):
        row = per.setdefault(record.actor_id, MemberYear(actor=record.actor))
        row.due += record.amount_due
        row.paid += record.amount_paid
        if in_arrears(record, today_month=this_month):
            row.arrears += record.amount_due - record.amount_paid
            row.months_in_arrears.append(record.month)
    members = sorted(per.values(), key=lambda r: r.actor.username)
    zero = Decimal("0.00")
    return YearSummary(
        year=year,
        members=members,
        due=sum((m.due for m in members), zero),
        paid=sum((m.paid for m in members), zero),
        arrears=sum((m.arrears for m in members), zero),
    )


def paid_up_to(group: Group | Actor, member: Actor) -> str:
    """The last month ``YYYY-MM`` up to which every recorded month is fully paid ("" if none):
    what a transfer's membership record carries as "dues paid up to"."""
    last = ""
    for record in DuesRecord.objects.filter(group=as_group(group), actor=member).order_by("month"):
        if record.amount_paid < record.amount_due:
            break
        last = record.month
    return last


def record_to_dict(record: DuesRecord, *, today_month: str | None = None) -> dict[str, Any]:
    """The client API shape of a dues record (amounts as decimal strings)."""
    return {
        "id": str(record.pk),
        "account": {"id": str(record.actor_id), "acct": record.actor.handle},
        "month": record.month,
        "amount_due": str(record.amount_due),
        "amount_paid": str(record.amount_paid),
        "paid_on": record.paid_on.isoformat() if record.paid_on else None,
        "method": record.method,
        "note": record.note,
        "recorded_by": record.recorded_by.handle if record.recorded_by else None,
        "arrears": in_arrears(record, today_month=today_month),
    }


def summary_to_dict(summary: YearSummary) -> dict[str, Any]:
    """The client API shape of a yearly summary."""
    return {
        "year": summary.year,
        "due": str(summary.due),
        "paid": str(summary.paid),
        "arrears": str(summary.arrears),
        "members": [
            {
                "account": {"id": str(m.actor.pk), "acct": m.actor.handle},
                "due": str(m.due),
                "paid": str(m.paid),
                "arrears": str(m.arrears),
                "months_in_arrears": m.months_in_arrears,
            }
            for m in summary.members
        ],
    }

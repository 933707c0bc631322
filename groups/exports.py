"""CSV and PDF exports of meeting and dues records (members-only data: callers check access).

CSV files start with a UTF-8 byte order mark (spreadsheet programs then read Chinese correctly)
and neutralise formula-looking cells (``=``, ``+``, ``-``, ``@``) against CSV injection.
PDFs are made with fpdf2 and a CJK font from the system (``GROUPS_PDF_FONT``, default the
Debian ``fonts-wqy-microhei`` file that ``.ci/run`` installs); nothing is downloaded at run
time. Without that font the PDF still renders, with Latin-1 text only.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from groups.dues import in_arrears
from groups.models import DuesRecord, Group, Meeting

log = logging.getLogger(__name__)
DEFAULT_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text  # a spreadsheet must not run it as a formula
    return text


def _csv(header: list[str], rows: Iterable[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def meetings_csv(meetings: Iterable[Meeting]) -> bytes:
    """One row per meeting: date, kind, title, place, topics, attendees, absentees (with reasons),
    minutes, event. Attendance must be prefetched by the caller for large sets."""
    rows = []
    for m in meetings:
        att = list(m.attendance.all())
        rows.append(
            [
                m.held_on.isoformat(),
                m.kind,
                m.title,
                m.place,
                "; ".join(m.topics),
                "; ".join(a.actor.handle for a in att if a.present),
                "; ".join(
                    f"{a.actor.handle} ({a.reason})" if a.reason else a.actor.handle for a in att if not a.present
                ),
                m.minutes,
                m.event_ap_id,
            ]
        )
    header = ["date", "kind", "title", "place", "topics", "attendees", "absentees", "minutes", "event"]
    return _csv(header, rows)


def dues_csv(records: Iterable[DuesRecord]) -> bytes:
    """One row per member-month: account, month, due, paid, paid date, method, recorded by, arrears."""
    rows = (
        [
            r.actor.handle,
            r.month,
            r.amount_due,
            r.amount_paid,
            r.paid_on.isoformat() if r.paid_on else "",
            r.method,
            r.recorded_by.handle if r.recorded_by else "",
            "yes" if in_arrears(r) else "",
        ]
        for r in records
    )
    header = ["account", "month", "amount_due", "amount_paid", "paid_on", "method", "recorded_by", "arrears"]
    return _csv(header, rows)


# ---------------------------------------------------------------- PDF


def _pdf() -> tuple[Any, bool]:
    """A new fpdf2 document with the CJK font when available; (pdf, unicode_ok)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    font = Path(str(getattr(settings, "GROUPS_PDF_FONT", DEFAULT_FONT)))
    if font.is_file():
        pdf.add_font("cjk", fname=str(font))
        pdf.set_font("cjk", size=11)
        return pdf, True
    log.warning("no CJK font at %s: PDF exports show Latin-1 text only", font)
    pdf.set_font("helvetica", size=11)
    return pdf, False


def _text(value: str, unicode_ok: bool) -> str:
    return value if unicode_ok else value.encode("latin-1", "replace").decode("latin-1")


def meetings_pdf(group: Group, meetings: Iterable[Meeting], *, title: str = "") -> bytes:
    """A PDF with one section per meeting (kind, date, place, attendance, topics, minutes);
    Chinese and other scripts of the CJK font render as text (searchable, copyable)."""
    pdf, uni = _pdf()
    pdf.set_title(title or group.actor.name or group.actor.username)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, size: int = 11, height: float = 6) -> None:
        pdf.set_font_size(size)
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(width, height, _text(text, uni))

    line(title or f"{group.actor.name or group.actor.username} · {_('Meeting records')}", 16, 9)
    for meeting in meetings:
        att = list(meeting.attendance.all())
        pdf.ln(3)
        line(f"{meeting.held_on.isoformat()}  {_(meeting.kind)}  {meeting.title}", 13, 8)
        if meeting.place:
            line(f"{_('Place')}: {meeting.place}")
        line(f"{_('Attendees')}: " + (", ".join(a.actor.name or a.actor.handle for a in att if a.present) or "—"))
        absent = [
            f"{a.actor.name or a.actor.handle} ({a.reason})" if a.reason else a.actor.handle
            for a in att
            if not a.present
        ]
        if absent:
            line(f"{_('Absentees')}: " + ", ".join(absent))
        if meeting.topics:
            line(f"{_('Topics')}: " + "; ".join(meeting.topics))
        if meeting.minutes:
            line(f"{_('Minutes')}:")
            line(meeting.minutes, 10, 5)
    return bytes(pdf.output())

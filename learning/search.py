"""Full-text search of library documents and courses, Chinese included, on SQLite and PostgreSQL.

Chinese has no spaces between words, so word-based full-text engines (PostgreSQL's
``to_tsvector`` with the default parsers, SQLite FTS5's unicode61 tokenizer) cannot find
``党员`` inside ``党员教育``. As ``microblog/search.py`` does, every whitespace-separated term
of the query must occur as a **substring** (Django's ``icontains``: ``UPPER(x) LIKE UPPER(%s)``
on PostgreSQL, ``LIKE`` on SQLite; case-insensitive for Latin letters on both) in one of the
searched fields. The SQL is the same on both back ends, so both give the same answers. Library
and course tables are small next to the posts table (thousands of rows, not millions); a
``pg_trgm`` GIN index on ``text`` would serve terms of 3+ characters if one day they are not.

- documents: title, author, category, description and the extracted text;
- courses: title, summary, category, and the title and text of any lesson; only published
  courses (``learning.services.catalog``).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from learning.models import Course, Lesson, LibraryDocument

MAX_TERMS = 8
DOCUMENT_FIELDS = ("title", "author", "category", "description", "text")
COURSE_FIELDS = ("title", "summary", "category")


def terms_of(q: str) -> list[str]:
    """The query's terms: whitespace-separated, at most ``MAX_TERMS``, each at most 100 characters."""
    return [t[:100] for t in (q or "").split() if t][:MAX_TERMS]


def _any_field(term: str, fields: tuple[str, ...]) -> Q:
    condition = Q()
    for name in fields:
        condition |= Q(**{f"{name}__icontains": term})
    return condition


def search_documents(q: str, *, category: str | None = None) -> QuerySet[LibraryDocument]:
    """Library documents containing every term of ``q`` in their metadata or extracted text,
    newest first (none for an empty query); optionally only in ``category``."""
    terms = terms_of(q)
    if not terms:
        return LibraryDocument.objects.none()
    rows = LibraryDocument.objects.all()
    if category is not None:
        rows = rows.filter(category=category)
    for term in terms:
        rows = rows.filter(_any_field(term, DOCUMENT_FIELDS))
    return rows.order_by("-created_at", "-pk")


def search_courses(q: str, *, category: str = "") -> QuerySet[Course]:
    """Published courses with every term of ``q`` in their title, summary, category or in a
    lesson's title or text, newest first (none for an empty query)."""
    from learning.services import catalog

    terms = terms_of(q)
    if not terms:
        return Course.objects.none()
    rows = catalog(category=category)
    for term in terms:
        in_lesson = Lesson.objects.filter(course=OuterRef("pk")).filter(
            Q(title__icontains=term) | Q(body__icontains=term)
        )
        rows = rows.filter(_any_field(term, COURSE_FIELDS) | Q(Exists(in_lesson)))
    return rows


def snippet(text: str, q: str, *, width: int = 60) -> str:
    """A short excerpt of ``text`` around the first term of ``q`` found in it (case-insensitive),
    with ``…`` where it was cut; the start of the text when no term occurs."""
    text = " ".join((text or "").split())
    folded = text.casefold()
    for term in terms_of(q):
        at = folded.find(term.casefold())
        if at >= 0:
            start = max(0, at - width)
            end = min(len(text), at + len(term) + width)
            return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return text[: width * 2] + ("…" if len(text) > width * 2 else "")

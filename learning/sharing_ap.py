"""Courses as ActivityStreams 2.0 (pure conversions; see FEDERATION.md "Courses").

A course is an object of type ``["redcloud:Course", "Document"]`` (our type first: the inbox
dispatches on the first type; servers that do not know ours see a ``Document``, which
Mastodon-like servers ignore instead of showing it as a post), attributed to the publishing
node's instance actor, with its lessons as an embedded ``OrderedCollection`` of ``Article``s.
The exam's settings are public; the question bank with its answer keys (``redcloud:questions``)
is only in the document served to an importing node's instance actor (``with_answers``),
never in a public activity or collection.

``parse_course`` checks and normalises a received document into plain values for
``learning.sharing`` to store; it raises ``CourseFormatError`` for anything malformed.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from federation.hosts import host_of
from federation.sanitize import plain_text, sanitize_html
from federation.vocab import AS_CONTEXT, PUBLIC, as_list, id_of
from learning.models import Course, Exam

NS = "https://redcloud.example/ns#"
COURSE_TYPE = "redcloud:Course"
COURSE_TYPES = frozenset({COURSE_TYPE, f"{NS}Course"})
CONTEXT: list[Any] = [AS_CONTEXT, {"redcloud": NS}]
MAX_LESSONS = 200
MAX_QUESTIONS = 1000
MAX_BODY = 200_000
ATTACHMENT_KINDS = {
    "application/pdf": "pdf",
    "application/epub+zip": "epub",
}


class CourseFormatError(ValueError):
    """A received course document is malformed or breaks a rule; the message says which."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _absolute(url: str) -> str:
    return urljoin(f"{settings.NODE_BASE_URL}/", url)


def _lesson_to_ap(lesson: Any) -> dict[str, Any]:
    attachments = []
    for item in lesson.attachments.all():
        url = _absolute(item.file.url) if item.file else item.remote_url
        if url:
            attachments.append(
                {
                    "type": "Document",
                    "url": url,
                    "mediaType": item.mime_type,
                    "name": item.name,
                    "redcloud:kind": item.kind,
                    "redcloud:size": item.size,
                }
            )
    doc: dict[str, Any] = {
        "id": lesson.ap_id,
        "type": "Article",
        "name": lesson.title,
        "content": lesson.body_html,
        "mediaType": "text/html",
        "source": {"content": lesson.body, "mediaType": "text/markdown"},
        "redcloud:position": lesson.position,
        "attachment": attachments,
        "updated": _iso(lesson.updated_at),
    }
    if lesson.video_url:
        doc["redcloud:videoUrl"] = lesson.video_url
    return doc


def _question_to_ap(question: Any) -> dict[str, Any]:
    return {
        "id": question.ap_id,
        "type": "redcloud:QuizQuestion",
        "content": question.prompt,
        "redcloud:kind": question.kind,
        "redcloud:choices": list(question.choices or []),
        "redcloud:answer": list(question.answer or []),
        "redcloud:explanation": question.explanation,
        "redcloud:points": question.points,
        "redcloud:position": question.position,
    }


def course_to_ap(course: Course, *, publisher: Any, url: str = "", with_answers: bool = False) -> dict[str, Any]:
    """The AS2 document of a local course published by ``publisher`` (the instance actor).
    Answer keys (the question bank) only when ``with_answers``."""
    authors = [a.name or a.username for a in course.authors.all()]
    lessons = [_lesson_to_ap(lesson) for lesson in course.lessons.prefetch_related("attachments")]
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": course.ap_id,
        "type": [COURSE_TYPE, "Document"],
        "name": course.title,
        "summary": html.escape(course.summary),
        "attributedTo": publisher.ap_id,
        "url": url or course.ap_id,
        "published": _iso(course.published_at),
        "updated": _iso(course.updated_at),
        "to": [PUBLIC],
        "cc": [publisher.followers_url] if publisher.followers_url else [],
        "redcloud:authorNames": course.author_names or ", ".join(authors),
        "redcloud:category": course.category,
        "redcloud:credits": course.credits,
        "redcloud:language": course.language,
        "redcloud:lessons": {"type": "OrderedCollection", "totalItems": len(lessons), "orderedItems": lessons},
    }
    if course.cover:
        doc["image"] = {"type": "Image", "url": _absolute(course.cover.url)}
    exam = Exam.objects.filter(course=course).first()
    if exam is not None:
        doc["redcloud:exam"] = {
            "type": "redcloud:Exam",
            "redcloud:questionCount": exam.question_count,
            "redcloud:passMark": exam.pass_mark,
            "redcloud:timeLimitMinutes": exam.time_limit_minutes,
            "redcloud:maxAttempts": exam.max_attempts,
            "redcloud:bankSize": course.questions.count(),
        }
    if with_answers:
        doc["redcloud:questions"] = [_question_to_ap(q) for q in course.questions.all()]
    return doc


# ---------------------------------------------------------------- parsing


def is_course(doc: Any) -> bool:
    """True when ``doc`` is an object with our course type among its types."""
    return isinstance(doc, dict) and any(t in COURSE_TYPES for t in as_list(doc.get("type")))


def _text(value: Any, limit: int, what: str, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str | int):
        raise CourseFormatError(_("%(what)s must be text") % {"what": what})
    text = str(value).strip()
    if required and not text:
        raise CourseFormatError(_("%(what)s is missing") % {"what": what})
    if len(text) > limit:
        raise CourseFormatError(_("%(what)s is too long") % {"what": what})
    return text


def _number(value: Any, low: int, high: int, what: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CourseFormatError(
            _("%(what)s must be a whole number between %(low)s and %(high)s") % {"what": what, "low": low, "high": high}
        )
    return value


def _http_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 500:
        return ""
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else ""


def _same_host(ident: Any, host: str, what: str) -> str:
    if not isinstance(ident, str) or not _http_url(ident):
        raise CourseFormatError(_("%(what)s needs an http(s) id") % {"what": what})
    try:
        if host_of(ident) != host:
            raise CourseFormatError(
                _("%(what)s %(id)s is not on the course's host") % {"what": what, "id": ident[:100]}
            )
    except ValueError:
        raise CourseFormatError(_("%(what)s has a malformed id") % {"what": what}) from None
    return ident


def _parse_lesson(item: Any, host: str, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise CourseFormatError(_("a lesson must be an object"))
    source = item.get("source") if isinstance(item.get("source"), dict) else {}
    content = item.get("content") if isinstance(item.get("content"), str) else ""
    attachments = []
    for att in as_list(item.get("attachment"))[:20]:
        if not isinstance(att, dict):
            continue
        url = _http_url(id_of(att.get("url")) or att.get("href"))
        media_type = str(att.get("mediaType") or "")[:100]
        kind = str(att.get("redcloud:kind") or ATTACHMENT_KINDS.get(media_type, ""))
        if url and kind in ("video", "audio", "pdf", "epub"):
            attachments.append(
                {
                    "url": url,
                    "mime_type": media_type,
                    "kind": kind,
                    "name": plain_text(str(att.get("name") or ""))[:200],
                }
            )
    return {
        "ap_id": _same_host(item.get("id"), host, _("a lesson")),
        "title": _text(item.get("name"), 200, _("a lesson's name"), required=True),
        "body": _text(source.get("content"), MAX_BODY, _("a lesson's source"))
        if source
        else plain_text(content)[:MAX_BODY],
        "body_html": sanitize_html(content[:MAX_BODY]),
        "video_url": _http_url(item.get("redcloud:videoUrl")),
        "position": index,
        "attachments": attachments,
    }


def _parse_question(item: Any, host: str, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise CourseFormatError(_("a question must be an object"))
    choices = item.get("redcloud:choices") or []
    answer = item.get("redcloud:answer")
    if not isinstance(choices, list) or not isinstance(answer, list):
        raise CourseFormatError(_("a question needs a list of choices and an answer key"))
    return {
        "ap_id": _same_host(item.get("id"), host, _("a question")),
        "kind": _text(item.get("redcloud:kind"), 16, _("a question's kind"), required=True),
        "prompt": _text(item.get("content"), 5000, _("a question's prompt"), required=True),
        "choices": [str(c)[:500] for c in choices[:10]],
        "answer": answer[:10],
        "explanation": _text(item.get("redcloud:explanation"), 5000, _("an explanation")),
        "points": _number(item.get("redcloud:points", 1), 1, 100, _("points")),
        "position": index,
    }


def parse_course(doc: Any) -> dict[str, Any]:
    """Checked plain values of a received course document: course fields, ``lessons`` (in
    order), ``exam`` (or None), ``questions`` (None when the document carries no answer keys).
    Raises :class:`CourseFormatError`."""
    if not is_course(doc):
        raise CourseFormatError(_("not a course"))
    ident = doc.get("id")
    if not isinstance(ident, str) or not _http_url(ident):
        raise CourseFormatError(_("a course needs an http(s) id"))
    host = host_of(ident)
    publisher = id_of(doc.get("attributedTo"))
    _same_host(publisher, host, _("the publisher"))
    lessons_doc = doc.get("redcloud:lessons")
    items = as_list(lessons_doc.get("orderedItems") if isinstance(lessons_doc, dict) else lessons_doc)
    if not items:
        raise CourseFormatError(_("a course needs lessons"))
    if len(items) > MAX_LESSONS:
        raise CourseFormatError(_("a course has too many lessons"))
    exam_doc = doc.get("redcloud:exam")
    exam = None
    if isinstance(exam_doc, dict):
        exam = {
            "question_count": _number(exam_doc.get("redcloud:questionCount"), 1, 200, _("the question count")),
            "pass_mark": _number(exam_doc.get("redcloud:passMark", 60), 0, 100, _("the pass mark")),
            "time_limit_minutes": _number(
                exam_doc.get("redcloud:timeLimitMinutes"), 1, 24 * 60, _("the time limit"), optional=True
            ),
            "max_attempts": _number(
                exam_doc.get("redcloud:maxAttempts"), 1, 100, _("the attempt limit"), optional=True
            ),
        }
    questions_doc = doc.get("redcloud:questions")
    questions = None
    if isinstance(questions_doc, list):
        if len(questions_doc) > MAX_QUESTIONS:
            raise CourseFormatError(_("a course has too many questions"))
        questions = [_parse_question(q, host, i) for i, q in enumerate(questions_doc)]
    image = doc.get("image")
    return {
        "ap_id": ident,
        "publisher": publisher,
        "url": _http_url(id_of(doc.get("url")) or "") or ident,
        "title": _text(doc.get("name"), 200, _("the course's name"), required=True),
        "summary": plain_text(doc.get("summary") if isinstance(doc.get("summary"), str) else "")[:5000],
        "category": _text(doc.get("redcloud:category"), 100, _("the category")),
        "language": _text(doc.get("redcloud:language"), 16, _("the language")),
        "credits": _number(doc.get("redcloud:credits", 0), 0, 1000, _("the credits")),
        "author_names": _text(doc.get("redcloud:authorNames"), 500, _("the authors")),
        "published": str(doc.get("published") or "")[:40],
        "updated": str(doc.get("updated") or "")[:40],
        "cover_url": _http_url(id_of(image.get("url")) if isinstance(image, dict) else None),
        "lessons": [_parse_lesson(item, host, i) for i, item in enumerate(items)],
        "exam": exam,
        "questions": questions,
    }

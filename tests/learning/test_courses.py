"""Courses, lessons, Markdown and attachments (learning/services.py, markdown.py, attachments.py)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from learning import services
from learning.errors import LearningError
from learning.markdown import render_markdown
from learning.models import Course, CourseState, LessonAttachment
from tests.learning.conftest import tiny_epub, tiny_pdf


def _files_in(settings) -> list[str]:
    from pathlib import Path

    root = Path(settings.MEDIA_ROOT) / "learning"
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_markdown_scripts_and_handlers_removed_when_rendering():
    """Lesson Markdown with raw HTML, event handlers and javascript: links renders without them."""
    html = render_markdown(
        "# Title\n\n<script>alert(1)</script> <img src=x onerror=alert(1)> "
        "[click](javascript:alert(1)) <iframe src=//evil></iframe>\n\n**bold** [ok](https://example.org)"
    )
    assert "<script" not in html and "onerror=" not in html.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert "<img" not in html and "<iframe" not in html and "javascript:" not in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org"' in html


def test_create_course_refused_when_not_instructor(student):
    """A member without the instructor role cannot create a course; nothing is stored."""
    with pytest.raises(LearningError) as err:
        services.create_course(student, title="Mine")
    assert err.value.status == 403
    assert not Course.objects.exists()


def test_staff_is_instructor_without_role_row(make_local_member):
    """Staff users are instructors without holding the role."""
    staff = make_local_member("boss")
    staff.user.is_staff = True
    staff.user.save()
    assert services.is_instructor(staff)
    assert services.create_course(staff, title="Staff course").state == CourseState.DRAFT


def test_lesson_body_stored_sanitised_when_added(instructor):
    """A lesson keeps its Markdown source and a sanitised HTML rendering."""
    course = services.create_course(instructor, title="C")
    lesson = services.add_lesson(instructor, course, title="L", body="hi <script>x()</script> *there*")
    assert lesson.body.startswith("hi <script>")
    assert "<script>" not in lesson.body_html and "<em>there</em>" in lesson.body_html
    assert lesson.ap_id.startswith(course.ap_id)


def test_video_link_refused_when_not_http(instructor):
    """External video links must be http(s); a javascript: link is refused and no lesson stored."""
    course = services.create_course(instructor, title="C")
    with pytest.raises(LearningError):
        services.add_lesson(instructor, course, title="L", video_url="javascript:alert(1)")
    assert not course.lessons.exists()


def test_publish_refused_when_no_lessons(instructor):
    """A course without lessons stays a draft."""
    course = services.create_course(instructor, title="Empty")
    with pytest.raises(LearningError):
        services.publish_course(instructor, course)
    course.refresh_from_db()
    assert course.state == CourseState.DRAFT and course.published_at is None


def test_publish_refused_when_bank_smaller_than_exam(make_course):
    """An exam drawing more questions than the bank holds blocks publication."""
    from learning import exams

    course = make_course(exam=None, publish=False)
    exams.add_question(course.owner, course, kind="true_false", prompt="Q?", answer=True)
    exams.set_exam(course.owner, course, question_count=3)
    with pytest.raises(LearningError):
        services.publish_course(course.owner, course)
    course.refresh_from_db()
    assert course.state == CourseState.DRAFT


def test_publish_opens_discussion_and_notifies_observers(make_course, monkeypatch):
    """Publishing sets published_at, creates the Q&A post by the instructor and tells observers."""
    from learning import registry

    events: list[tuple[str, int]] = []
    monkeypatch.setattr(registry, "_course_observers", [lambda e, c: events.append((e, c.pk))])
    course = make_course()
    assert course.state == CourseState.PUBLISHED and course.published_at is not None
    assert course.discussion is not None and course.discussion.author_id == course.owner_id
    assert ("published", course.pk) in events


def test_other_instructor_cannot_edit_course(make_course, make_local_member):
    """An instructor who neither owns nor co-authors a course cannot change it."""
    course = make_course()
    other = make_local_member("other")
    services.grant_instructor(other)
    with pytest.raises(LearningError):
        services.update_course(other, course, title="Hijacked")
    course.refresh_from_db()
    assert course.title == "Party history"


def test_drafts_hidden_from_other_members(make_course, student):
    """A draft is invisible to members who cannot edit it and to anonymous viewers."""
    draft = make_course(publish=False)
    assert not services.visible_courses(student).filter(pk=draft.pk).exists()
    assert not services.visible_courses(None).filter(pk=draft.pk).exists()
    assert services.visible_courses(draft.owner).filter(pk=draft.pk).exists()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (tiny_pdf(), "pdf"),
        (tiny_epub(), "epub"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "video"),
        (b"ID3\x03\x00" + b"\x00" * 64, "audio"),
    ],
)
def test_attachment_stored_when_content_is_supported(make_course, settings, data, kind):
    """Supported files are stored with the kind and type found in their bytes, not their name."""
    course = make_course()
    lesson = course.lessons.first()
    item = services.add_attachment(course.owner, lesson, SimpleUploadedFile("x.exe", data, "text/plain"))
    assert item.kind == kind and item.size == len(data) and item.name.endswith(item.file.name.rsplit(".", 1)[1])
    assert len(_files_in(settings)) == 1


@pytest.mark.parametrize(
    "data",
    [
        b"<html><script>alert(1)</script></html>",
        b"MZ\x90\x00 windows executable",
        tiny_pdf(b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >> "),
        tiny_pdf(b"/Names << /EmbeddedFiles 2 0 R >> "),
        b"%PDF-1.4\n1 0 obj << garbage",
        tiny_epub({"../../etc/passwd": b"x"}),
        b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 20 + b"mimetypeapplication/epub+zip broken",
    ],
    ids=["html", "exe", "pdf-js", "pdf-embedded", "pdf-damaged", "epub-traversal", "epub-damaged"],
)
def test_attachment_refused_without_storing_when_malicious(make_course, settings, data):
    """Malicious, damaged or unknown files are refused; no row and no file remain."""
    course = make_course()
    lesson = course.lessons.first()
    with pytest.raises(LearningError) as err:
        services.add_attachment(course.owner, lesson, SimpleUploadedFile("book.pdf", data, "application/pdf"))
    assert err.value.code == "type"
    assert not LessonAttachment.objects.exists()
    assert _files_in(settings) == []


def test_attachment_refused_without_storing_when_oversized(make_course, settings):
    """A file over the kind's limit is refused before being stored."""
    settings.LEARNING_MAX_PDF_BYTES = 1000
    settings.LEARNING_MAX_VIDEO_BYTES = 1000
    settings.LEARNING_MAX_AUDIO_BYTES = 1000
    settings.LEARNING_MAX_EPUB_BYTES = 1000
    course = make_course()
    data = tiny_pdf() + b"%" * 2000 + b"\n%%EOF\n"
    with pytest.raises(LearningError) as err:
        services.add_attachment(course.owner, course.lessons.first(), SimpleUploadedFile("a.pdf", data))
    assert err.value.code == "size"
    assert not LessonAttachment.objects.exists() and _files_in(settings) == []


def test_cover_reencoded_when_image_valid(instructor):
    """A cover image is accepted by content and re-encoded; a non-image cover is refused."""
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(buf, "PNG")
    course = services.create_course(instructor, title="C", cover=SimpleUploadedFile("c.gif", buf.getvalue()))
    assert course.cover.name.endswith(".png")
    with pytest.raises(LearningError):
        services.create_course(instructor, title="D", cover=SimpleUploadedFile("c.png", b"<svg onload=x>"))
    assert Course.objects.count() == 1

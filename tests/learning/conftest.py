"""Learning fixtures (W4): an instructor, a published course with lessons and an exam, members."""

from __future__ import annotations

import io
import zipfile

import pytest

from federation.models import Actor
from learning import exams, services
from learning.models import Course
from tests.microblog.api.conftest import ApiClient, api_for, make_token, oauth_app  # noqa: F401


@pytest.fixture
def instructor(make_local_member) -> Actor:
    """teacher, a member holding the instructor role."""
    actor = make_local_member("teacher")
    services.grant_instructor(actor)
    return actor


@pytest.fixture
def student(make_local_member) -> Actor:
    """stu, an ordinary member."""
    return make_local_member("stu")


@pytest.fixture
def make_course(instructor, django_capture_on_commit_callbacks):
    """Factory: a course by ``instructor`` with ``lessons`` lessons, an exam of ``exam`` questions
    drawn from a bank of ``bank`` true/false questions (answer: true), published unless told."""

    def make(
        title: str = "Party history",
        *,
        lessons: int = 2,
        exam: int | None = 5,
        bank: int | None = None,
        credits: int = 3,
        publish: bool = True,
        **exam_options,
    ) -> Course:
        with django_capture_on_commit_callbacks(execute=True):
            course = services.create_course(instructor, title=title, credits=credits, category="history")
            for i in range(lessons):
                services.add_lesson(instructor, course, title=f"Lesson {i + 1}", body=f"Text **{i + 1}**")
            if exam:
                for i in range(bank or exam):
                    exams.add_question(instructor, course, kind="true_false", prompt=f"Q{i}?", answer=True)
                exams.set_exam(instructor, course, question_count=exam, **exam_options)
            if publish:
                services.publish_course(instructor, course)
        course.refresh_from_db()
        return course

    return make


def all_true(attempt) -> dict[str, bool]:
    """Correct answers for an attempt drawn from ``make_course``'s bank."""
    return {str(pk): True for pk in attempt.question_ids}


def tiny_pdf(extra: bytes = b"") -> bytes:
    """A minimal valid one-page PDF (with ``extra`` inserted into the catalog)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + extra + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def tiny_epub(extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal EPUB container (``mimetype`` first, stored; a container.xml)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        book.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        book.writestr("META-INF/container.xml", "<container/>")
        book.writestr("OEBPS/ch1.xhtml", "<html><body>第一章</body></html>")
        for name, data in (extra or {}).items():
            book.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def anon_api() -> ApiClient:
    """A client API caller without a token."""
    return ApiClient(None)

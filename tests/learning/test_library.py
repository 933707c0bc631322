"""The e-library: upload checks, extraction in the worker, category browsing, Chinese search."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from learning import library
from learning.errors import LearningError
from learning.models import ExtractionState, LibraryDocument
from learning.search import search_courses, search_documents, snippet
from learning.services import grant_instructor
from tests.learning.test_textextract import make_epub, make_pdf


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Uploaded files go to a temporary media folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def instructor(make_local_member):
    """A member with the instructor role."""
    actor = make_local_member("teacher")
    grant_instructor(actor)
    return actor


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def add(actor, data: bytes, name: str = "doc.bin", **meta) -> LibraryDocument:
    meta.setdefault("title", "A document")
    return library.upload_document(actor, upload(name, data), **meta)


def test_upload_pdf_extracts_text_after_commit(instructor, django_capture_on_commit_callbacks):
    """An uploaded PDF is stored pending and its text is extracted by the task after commit."""
    with django_capture_on_commit_callbacks(execute=True):
        doc = add(instructor, make_pdf(["Party member education"]), title="Handbook", category="Party history")
        assert LibraryDocument.objects.get(pk=doc.pk).extraction_state == ExtractionState.PENDING
    doc.refresh_from_db()
    assert doc.kind == "pdf"
    assert doc.extraction_state == ExtractionState.DONE
    assert "Party member education" in doc.text
    assert doc.pages == 1 and doc.size > 0 and len(doc.sha256) == 64


def test_upload_epub_and_text_are_extracted(instructor, django_capture_on_commit_callbacks):
    """EPUB and plain text (GB 18030 too) uploads are recognised by content and extracted."""
    with django_capture_on_commit_callbacks(execute=True):
        book = add(instructor, make_epub(["党员教育第一课"]), name="book.pdf")  # the name lies
        text = add(instructor, "基层党组织建设".encode("gb18030"), name="notes.txt")
    book.refresh_from_db()
    text.refresh_from_db()
    assert book.kind == "epub" and "党员教育第一课" in book.text
    assert text.kind == "text" and text.text == "基层党组织建设"


def test_upload_refused_for_unknown_type(instructor):
    """A binary file that is no PDF, EPUB or text is refused and nothing is stored."""
    with pytest.raises(LearningError) as err:
        add(instructor, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, name="x.pdf")
    assert err.value.code == "type"
    assert not LibraryDocument.objects.exists()


def test_upload_refused_over_size_limit(instructor, settings, tmp_path):
    """A file over ``LEARNING_LIBRARY_MAX_BYTES`` is refused (413) and no file is written."""
    settings.LEARNING_LIBRARY_MAX_BYTES = 1000
    with pytest.raises(LearningError) as err:
        add(instructor, b"a" * 1001, name="big.txt")
    assert err.value.status == 413
    assert not LibraryDocument.objects.exists()
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.txt"))


def test_upload_refused_for_pdf_with_javascript(instructor):
    """A PDF carrying JavaScript is refused at upload."""
    data = make_pdf(["x"]).replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript /JS (x) >>")
    with pytest.raises(LearningError):
        add(instructor, data)
    assert not LibraryDocument.objects.exists()


def test_upload_refused_for_members_without_role(make_local_member):
    """Members who are not instructors or staff cannot upload (403, nothing stored)."""
    member = make_local_member("plain")
    with pytest.raises(LearningError) as err:
        add(member, b"some text")
    assert err.value.status == 403
    assert not LibraryDocument.objects.exists()


def test_malicious_pdf_recorded_failed_without_crashing(instructor, django_capture_on_commit_callbacks):
    """A PDF that the parser cannot read ends ``failed`` with a reason; the task returns normally."""
    junk = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" + b"\xff\xfe(<<[" * 400 + b"\n%%EOF"
    with django_capture_on_commit_callbacks(execute=True):
        doc = add(instructor, junk)
    doc.refresh_from_db()
    assert doc.extraction_state == ExtractionState.FAILED
    assert doc.extraction_error and doc.text == ""
    assert library.extract_document(doc.pk) == "failed"  # idempotent: not retried without force


def test_chinese_search_finds_substring(instructor, django_capture_on_commit_callbacks):
    """Searching 党员 finds a document whose text contains 党员教育, on the test database."""
    with django_capture_on_commit_callbacks(execute=True):
        hit = add(instructor, "新时代党员教育读本。".encode(), title="读本", category="党史")
        add(instructor, "乡村振兴规划。".encode(), title="规划")
    assert list(search_documents("党员")) == [hit]
    assert list(search_documents("党员 读本")) == [hit]
    assert list(search_documents("党员 规划")) == []
    assert list(search_documents("党员", category="其他")) == []
    hit.refresh_from_db()
    assert "党员教育" in snippet(hit.text, "党员")


def test_search_matches_metadata_case_insensitively(instructor):
    """Titles and authors match too, case-insensitively for Latin letters."""
    doc = add(instructor, b"body", title="Constitution Reader", author="Editorial Board")
    assert list(search_documents("constitution")) == [doc]
    assert list(search_documents("EDITORIAL")) == [doc]
    assert list(search_documents("  ")) == []


def test_categories_list_counts(instructor):
    """Category browsing lists each category with its number of documents."""
    add(instructor, b"a", category="党史")
    add(instructor, b"b", category="党史")
    add(instructor, b"c", category="法规")
    assert dict(library.categories()) == {"党史": 2, "法规": 1}
    assert library.documents(category="法规").count() == 1


def test_course_search_finds_lesson_text(instructor):
    """Course search finds a published course by Chinese text inside a lesson, not drafts."""
    from learning.services import add_lesson, create_course, publish_course

    course = create_course(instructor, title="基层工作", summary="")
    add_lesson(instructor, course, title="第一课", body="学习党员教育的要求")
    draft = create_course(instructor, title="党员草稿")
    add_lesson(instructor, draft, title="x", body="党员")
    assert list(search_courses("党员")) == []
    publish_course(instructor, course)
    assert list(search_courses("党员")) == [course]
    assert list(search_courses("基层")) == [course]
    assert list(search_courses("党员 无关")) == []


def test_upload_page_refuses_members_without_role(client, make_local_member):
    """The upload page answers 404 to plain members and stores nothing."""
    member = make_local_member("reader")
    client.force_login(member.user)
    response = client.post(reverse("library_upload"), {"title": "x", "file": upload("a.txt", b"text")})
    assert response.status_code == 404
    assert not LibraryDocument.objects.exists()


def test_upload_page_reports_type_and_size_refusals(client, instructor, settings):
    """The upload page re-shows the form with the refusal's status and stores nothing."""
    client.force_login(instructor.user)
    response = client.post(reverse("library_upload"), {"title": "x", "file": upload("a.pdf", b"\x00\x01\x02" * 50)})
    assert response.status_code == 422
    settings.LEARNING_LIBRARY_MAX_BYTES = 10
    response = client.post(reverse("library_upload"), {"title": "x", "file": upload("a.txt", b"a" * 11)})
    assert response.status_code == 413
    assert not LibraryDocument.objects.exists()


def test_library_pages_upload_browse_search_download(client, instructor, django_capture_on_commit_callbacks):
    """An instructor uploads through the page; members browse, search in Chinese and download."""
    client.force_login(instructor.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("library_upload"),
            {"title": "学习读本", "category": "党史", "year": "2024", "file": upload("r.txt", "党员教育".encode())},
        )
    assert response.status_code == 302
    doc = LibraryDocument.objects.get()
    assert doc.year == 2024 and doc.extraction_state == ExtractionState.DONE
    page = client.get(reverse("library_index"), {"q": "党员"}).content.decode()
    assert "学习读本" in page
    assert "学习读本" in client.get(reverse("library_index"), {"category": "党史"}).content.decode()
    assert "学习读本" not in client.get(reverse("library_index"), {"q": "无关"}).content.decode()
    assert client.get(reverse("library_document", args=[doc.pk])).status_code == 200
    download = client.get(reverse("library_file", args=[doc.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == "党员教育".encode()


def test_library_requires_sign_in(client):
    """Anonymous visitors are sent to sign in."""
    assert client.get(reverse("library_index")).status_code == 302

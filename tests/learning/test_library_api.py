"""Client API of the e-library and of course sharing (learning/library_api.py, learning/sharing_api.py)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from learning import library
from learning.models import Course, ExtractionState, LibraryDocument
from learning.services import grant_instructor
from tests.learning.conftest import tiny_pdf
from tests.learning.test_sharing import origin, remote_course  # noqa: F401
from tests.learning.test_textextract import make_pdf


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Uploaded files go to a temporary folder; fetches may reach the loopback fake server."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def teacher_api(make_local_member, api_for):
    """The API client of a member holding the instructor role."""
    actor = make_local_member("teacher")
    grant_instructor(actor)
    return api_for(actor)


def _upload(api, data: bytes, name: str = "doc.pdf", **meta):
    meta.setdefault("title", "读本")
    return api.post("/api/v1/learning/library", {"file": SimpleUploadedFile(name, data), **meta}, form=True)


def test_library_upload_and_chinese_search_via_api(teacher_api, student, api_for, django_capture_on_commit_callbacks):
    """An instructor uploads; a member finds the document by 党员 inside 党员教育, with an excerpt."""
    with django_capture_on_commit_callbacks(execute=True):
        created = _upload(teacher_api, "新时代党员教育读本。".encode(), "book.txt", category="党史")
        _upload(teacher_api, "乡村振兴规划。".encode(), "plan.txt", title="规划")
    assert created.status_code == 200, created.content
    assert created.json()["extraction_state"] == ExtractionState.PENDING
    member = api_for(student)
    hits = member.get("/api/v1/learning/library", {"q": "党员"}).json()
    assert [h["title"] for h in hits] == ["读本"] and "党员教育" in hits[0]["excerpt"]
    assert member.get("/api/v1/learning/library", {"q": "党员 规划"}).json() == []
    assert [h["title"] for h in member.get("/api/v1/learning/library", {"category": "党史"}).json()] == ["读本"]
    assert {"category": "党史", "documents": 1} in member.get("/api/v1/learning/library/categories").json()
    one = member.get(f"/api/v1/learning/library/{created.json()['id']}").json()
    assert one["extraction_state"] == "done" and one["kind"] == "text" and "text" not in one


def test_library_api_requires_a_token(anon_api):
    """The library is for signed-in members: no token, 401."""
    assert anon_api.get("/api/v1/learning/library", {"q": "党员"}).status_code == 401


def test_library_upload_refused_for_plain_member(student, api_for):
    """A member without the instructor role cannot upload (403); nothing is stored."""
    response = _upload(api_for(student), make_pdf(["x"]))
    assert response.status_code == 403 and "error" in response.json()
    assert not LibraryDocument.objects.exists()


def test_library_upload_refused_when_pdf_has_active_content(teacher_api):
    """A PDF carrying JavaScript is refused with 422 (code ``type``), no row and no file stored."""
    response = _upload(teacher_api, tiny_pdf(b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >> "))
    assert response.status_code == 422 and response.json()["code"] == "type"
    assert not LibraryDocument.objects.exists()


def test_library_upload_refused_when_oversized(teacher_api, settings):
    """A file over ``LEARNING_LIBRARY_MAX_BYTES`` is refused with 413; the server keeps serving."""
    settings.LEARNING_LIBRARY_MAX_BYTES = 1024
    response = _upload(teacher_api, b"a" * 5000, "big.txt")
    assert response.status_code == 413 and "MB" in response.json()["error"]
    assert not LibraryDocument.objects.exists()
    assert _upload(teacher_api, b"small text", "ok.txt").status_code == 200


def test_malformed_pdf_upload_ends_failed_without_crashing_worker(teacher_api, django_capture_on_commit_callbacks):
    """A PDF the parser chokes on is stored, its extraction ends ``failed`` with a reason, and the
    document stays readable through the API."""
    junk = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" + b"\xff\xfe(<<[" * 400 + b"\n%%EOF"
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(teacher_api, junk)
    assert response.status_code == 200
    doc = teacher_api.get(f"/api/v1/learning/library/{response.json()['id']}").json()
    assert doc["extraction_state"] == "failed"
    assert LibraryDocument.objects.get().extraction_error


def test_library_edit_and_delete_for_instructors_only(teacher_api, student, api_for):
    """Instructors change metadata and remove documents; members get 403; unknown ids 404."""
    created = _upload(teacher_api, b"plain text", "a.txt").json()
    path = f"/api/v1/learning/library/{created['id']}"
    assert api_for(student).patch(path, {"title": "x"}).status_code == 403
    assert api_for(student).delete(path).status_code == 403
    changed = teacher_api.patch(path, {"title": "新标题", "year": 2024})
    assert changed.status_code == 200 and changed.json()["title"] == "新标题" and changed.json()["year"] == 2024
    assert teacher_api.patch(path, {"title": ""}).status_code == 422
    assert teacher_api.delete(path).status_code == 200
    assert teacher_api.get(path).status_code == 404 and not LibraryDocument.objects.exists()
    assert library.documents().count() == 0


def test_shared_catalog_lists_own_published_courses(make_course, anon_api):
    """The shared catalog is public JSON: our published courses, never drafts; ``q`` filters."""
    make_course("党员教育基础")
    make_course("Draft", publish=False)
    rows = anon_api.get("/api/v1/learning/shared").json()
    assert [r["name"] for r in rows] == ["党员教育基础"] and rows[0]["imported"] is True
    assert anon_api.get("/api/v1/learning/shared", {"q": "党员"}).json()[0]["name"] == "党员教育基础"
    assert anon_api.get("/api/v1/learning/shared", {"q": "无关"}).json() == []


def test_import_via_api_is_for_staff_only(origin, student, api_for, make_local_member):  # noqa: F811
    """A plain member's import is refused (403); the operator's import copies the course."""
    _publisher, base, serve = origin
    url = serve(remote_course(base))
    assert api_for(student).post("/api/v1/learning/import", {"url": url}).status_code == 403
    assert not Course.objects.exists()
    operator = make_local_member("op")
    operator.user.is_staff = True
    operator.user.save()
    response = api_for(operator).post("/api/v1/learning/import", {"url": url})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["local"] is False and body["ap_id"] == url and body["title"] == "基层党建"
    assert "answer" not in response.content.decode()  # the copy's keys stay on the server


def test_import_via_api_refuses_bad_urls(make_local_member, api_for, make_course):
    """No URL, a non-http URL and one of our own courses are refused with 422/409; nothing stored."""
    operator = make_local_member("op")
    operator.user.is_staff = True
    operator.user.save()
    api = api_for(operator)
    assert api.post("/api/v1/learning/import", {}).status_code == 422
    assert api.post("/api/v1/learning/import", {"url": "file:///etc/passwd"}).status_code == 422
    own = make_course()
    assert api.post("/api/v1/learning/import", {"url": own.ap_id}).status_code == 409
    assert Course.objects.filter(local=False).count() == 0


def test_library_and_sharing_pages_translated_to_chinese(client, make_local_member, make_course):
    """The library, the shared catalog and the import page's refusals are in Simplified Chinese."""
    make_course("党员教育基础")
    operator = make_local_member("op")
    operator.user.is_staff = True
    operator.user.save()
    client.force_login(operator.user)
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}
    assert "搜索图书馆" in client.get("/learning/library/", **zh).content.decode()
    shared = client.get("/learning/shared", **zh).content.decode()
    assert "共享课程" in shared and "2 课" in shared
    refused = client.post("/learning/import", {"url": "ftp://x"}, **zh)
    assert refused.status_code == 422 and "请填写课程的 http(s) 地址" in refused.content.decode()


def test_course_format_errors_translated(settings):
    """A malformed remote course is described in the reader's language."""
    from django.utils import translation

    from learning.sharing_ap import CourseFormatError, parse_course

    with translation.override("zh-hans"), pytest.raises(CourseFormatError, match="不是课程"):
        parse_course({"type": "Note"})

"""Chinese full-text search of courses and library documents on the test database's back end.

CI runs this suite twice: on SQLite and with ``DATABASE_URL`` pointing at PostgreSQL. Nothing
here is skipped on either; the first test makes sure the run really uses the configured back end.
"""

from __future__ import annotations

import os

from django.db import connection

from learning import library, services
from learning.search import search_courses, search_documents
from tests.learning.test_library import upload


def test_search_runs_on_configured_database_backend():
    """With ``DATABASE_URL=postgres://...`` the searches below run on PostgreSQL, else on SQLite."""
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://", "pgsql://")) else "sqlite"
    assert connection.vendor == expected


def test_chinese_course_search_finds_word_inside_phrase(instructor, settings, tmp_path):
    """党员 finds a course titled 党员教育 and one whose lesson mentions 党员教育; not others or drafts."""
    settings.MEDIA_ROOT = str(tmp_path)
    titled = services.create_course(instructor, title="党员教育", summary="")
    services.add_lesson(instructor, titled, title="第一课", body="学习")
    in_lesson = services.create_course(instructor, title="基层工作", summary="")
    services.add_lesson(instructor, in_lesson, title="第一课", body="开展**党员教育**活动")
    other = services.create_course(instructor, title="乡村振兴", summary="")
    services.add_lesson(instructor, other, title="第一课", body="规划")
    draft = services.create_course(instructor, title="党员草稿")
    services.add_lesson(instructor, draft, title="x", body="党员教育")
    for course in (titled, in_lesson, other):
        services.publish_course(instructor, course)
    assert set(search_courses("党员")) == {titled, in_lesson}
    assert list(search_courses("党员 基层")) == [in_lesson]
    assert list(search_courses("教育 乡村")) == []
    assert set(services.catalog(query="党员")) == {titled, in_lesson}  # the catalog's q uses it too


def test_chinese_document_search_finds_word_inside_phrase(
    instructor, settings, tmp_path, django_capture_on_commit_callbacks
):
    """党员 finds a document whose extracted text contains 党员教育, mixed with Latin case-insensitively."""
    settings.MEDIA_ROOT = str(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        hit = library.upload_document(instructor, upload("a.txt", "加强Party党员教育工作。".encode()), title="文件一")
        library.upload_document(instructor, upload("b.txt", "乡村振兴规划。".encode()), title="文件二")
    assert list(search_documents("党员")) == [hit]
    assert list(search_documents("party 党员")) == [hit]
    assert list(search_documents("党员教育工作")) == [hit]
    assert list(search_documents("党员 振兴")) == []

"""HTML pages of the classroom (learning/views.py): reader, exam form without keys, reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from learning import exams, services
from learning.models import AttemptState, CreditEntry, Enrolment, ExamAttempt


@pytest.fixture
def client_for():
    """Factory: a logged-in test client for a member."""

    def make(actor) -> Client:
        client = Client()
        client.force_login(actor.user)
        return client

    return make


def test_catalog_and_course_pages_render(make_course, client):
    """Anonymous visitors see the catalog and the course page of a published course."""
    course = make_course("可见课程")
    assert "可见课程" in client.get("/learning/").content.decode()
    page = client.get(f"/learning/courses/{course.pk}")
    assert page.status_code == 200 and "Lesson 1" in page.content.decode()


def test_draft_course_page_404_for_others(make_course, client):
    """A draft course page is not found for visitors."""
    course = make_course(publish=False)
    assert client.get(f"/learning/courses/{course.pk}").status_code == 404


def test_enrol_read_complete_and_resume(make_course, student, client_for):
    """A member enrols, reads lesson 2 (remembered for resuming) and marks lesson 1 done."""
    course = make_course(exam=None)
    web = client_for(student)
    assert web.post(f"/learning/courses/{course.pk}/enrol").status_code == 302
    first, second = list(course.lessons.all())
    page = web.get(f"/learning/lessons/{second.pk}")
    assert page.status_code == 200 and "<strong>2</strong>" in page.content.decode()
    assert Enrolment.objects.get(actor=student).last_lesson_id == second.pk
    assert web.post(f"/learning/lessons/{first.pk}/complete").status_code == 302
    me = web.get("/learning/me").content.decode()
    assert "50%" in me


def test_attempt_page_has_no_answer_keys(make_course, student, client_for):
    """The exam form shows prompts and choices but not the keys or explanations."""
    course = make_course(exam=None, publish=False)
    exams.add_question(
        course.owner, course, kind="fill", prompt="Word?", answer=["HIDDEN-KEY"], explanation="HIDDEN-WHY"
    )
    exams.set_exam(course.owner, course, question_count=1)
    services.publish_course(course.owner, course)
    web = client_for(student)
    web.post(f"/learning/courses/{course.pk}/enrol")
    started = web.post(f"/learning/courses/{course.pk}/exam")
    page = web.get(started["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and "Word?" in html
    assert "HIDDEN-KEY" not in html and "HIDDEN-WHY" not in html


def test_attempt_form_submission_graded(make_course, student, client_for):
    """Submitting the form grades the attempt on the server and awards credits once."""
    course = make_course(exam=2)
    web = client_for(student)
    web.post(f"/learning/courses/{course.pk}/enrol")
    location = web.post(f"/learning/courses/{course.pk}/exam")["Location"]
    attempt = ExamAttempt.objects.get(actor=student)
    response = web.post(location, {f"q{pk}": "true" for pk in attempt.question_ids})
    assert response.status_code == 302
    attempt.refresh_from_db()
    assert attempt.passed and CreditEntry.objects.filter(actor=student).count() == 1


def test_attempt_form_refused_when_forged_or_late(make_course, student, client_for):
    """A form carrying a score is refused (422); a late one is refused (403); neither is graded."""
    course = make_course(exam=2, time_limit_minutes=5)
    web = client_for(student)
    web.post(f"/learning/courses/{course.pk}/enrol")
    location = web.post(f"/learning/courses/{course.pk}/exam")["Location"]
    attempt = ExamAttempt.objects.get(actor=student)
    assert web.post(location, {"score": "100", "passed": "true"}).status_code == 422
    ExamAttempt.objects.filter(pk=attempt.pk).update(deadline_at=timezone.now() - timedelta(minutes=1))
    assert web.post(location, {f"q{pk}": "true" for pk in attempt.question_ids}).status_code == 403
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.EXPIRED and attempt.score is None and not CreditEntry.objects.exists()


def test_edit_page_refused_to_non_editor(make_course, student, client_for):
    """Members who cannot edit a course get 403 on its editing page; nothing changes."""
    course = make_course()
    web = client_for(student)
    assert web.get(f"/learning/courses/{course.pk}/edit").status_code == 403
    assert web.post(f"/learning/courses/{course.pk}/edit", {"action": "archive"}).status_code == 403
    course.refresh_from_db()
    assert course.state == "published"


def test_instructor_adds_lesson_through_edit_page(make_course, client_for):
    """The instructor's editing page adds a lesson with sanitised text."""
    course = make_course()
    web = client_for(course.owner)
    assert web.get(f"/learning/courses/{course.pk}/edit").status_code == 200
    response = web.post(
        f"/learning/courses/{course.pk}/edit", {"action": "lesson", "title": "New", "body": "<b onclick=x>hi</b>"}
    )
    assert response.status_code == 302
    lesson = course.lessons.get(title="New")
    assert "<b" not in lesson.body_html and "onclick=x&gt;" in lesson.body_html  # shown as text, not a tag


def test_group_report_for_officers_only(make_course, make_local_member, client_for):
    """A group's report and CSV are for its officers; plain members are refused."""
    from groups.models import Membership
    from groups.services import create_group

    secretary = make_local_member("sec")
    group = create_group("branch1", secretary=secretary, display_name="Branch", kind="branch")
    member = make_local_member("mem")
    Membership.objects.create(group=group, actor=member, role="member", state="active", joined_at=timezone.now())
    assert client_for(member).get(f"/learning/reports/groups/{group.actor.pk}").status_code == 403
    page = client_for(secretary).get(f"/learning/reports/groups/{group.actor.pk}")
    assert page.status_code == 200
    csv = client_for(secretary).get(f"/learning/reports/groups/{group.actor.pk}?format=csv")
    assert "mem" in csv.content.decode("utf-8-sig")


def test_catalog_translated_to_chinese(make_course, client):
    """The catalog is shown in Simplified Chinese when the browser asks for it."""
    make_course()
    page = client.get("/learning/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert "课程" in page.content.decode() and "3 学分" in page.content.decode()


def test_openapi_documents_learning_endpoints():
    """docs/openapi.yaml lists every JSON endpoint of the classroom, library and sharing, with errors."""
    import re
    from pathlib import Path

    yaml = pytest.importorskip("yaml")
    doc = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
    paths = yaml.safe_load(doc.read_text(encoding="utf-8"))["paths"]
    from learning import urls

    modules = {"learning.api", "learning.library_api", "learning.sharing_api"}
    mine = [p for p in urls.urlpatterns if getattr(p.callback, "__module__", "") in modules]
    routes = {re.sub(r"<\w+:(\w+)>", r"{\1}", "/" + str(p.pattern)) for p in mine}
    assert len(routes) >= 20 and routes <= set(paths)
    for route in routes:  # every operation names its error responses
        for method, operation in paths[route].items():
            if method != "parameters" and operation.get("security") != []:
                assert "401" in operation["responses"], (route, method)

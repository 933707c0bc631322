"""Client API of the classroom (learning/api.py): answers never leak, grades never come from clients."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from learning import exams, services
from learning.models import AttemptState, Course, CreditEntry, ExamAttempt


@pytest.fixture
def secret_course(make_course):
    """A published course whose bank has distinctive answer keys and explanations."""
    course = make_course(exam=None, publish=False, credits=5)
    exams.add_question(
        course.owner, course, kind="fill", prompt="Capital?", answer=["SECRETKEY-beijing"], explanation="EXPLAIN-1"
    )
    exams.add_question(
        course.owner, course, kind="single", prompt="Pick", choices=["x", "y"], answer=1, explanation="EXPLAIN-2"
    )
    exams.set_exam(course.owner, course, question_count=2, max_attempts=3, time_limit_minutes=30)
    services.publish_course(course.owner, course)
    return course


def _start(api, course) -> dict:
    assert api.post(f"/api/v1/learning/courses/{course.pk}/enrol").status_code == 200
    response = api.post(f"/api/v1/learning/courses/{course.pk}/exam/attempts")
    assert response.status_code == 200, response.content
    return response.json()


def test_catalog_lists_published_courses_only(make_course, anon_api):
    """The catalog shows published courses to anyone, never drafts."""
    published = make_course("Open")
    make_course("Hidden", publish=False)
    response = anon_api.get("/api/v1/learning/courses")
    assert response.status_code == 200
    assert [c["title"] for c in response.json()] == [published.title]


def test_attempt_json_has_no_answers_before_submission(secret_course, student, api_for):
    """Starting and reading a running attempt never sends answer keys or explanations."""
    api = api_for(student)
    started = _start(api, secret_course)
    again = api.get(f"/api/v1/learning/attempts/{started['id']}")
    for body in (json.dumps(started), again.content.decode()):
        assert "SECRETKEY" not in body and "EXPLAIN" not in body and '"answer"' not in body


def test_course_json_has_no_answers_for_anyone(secret_course, student, api_for, anon_api):
    """The course document (anonymous or member) never carries the question bank."""
    for client in (anon_api, api_for(student)):
        body = client.get(f"/api/v1/learning/courses/{secret_course.pk}").content.decode()
        assert "SECRETKEY" not in body and "EXPLAIN" not in body


def test_question_bank_refused_to_non_editors(secret_course, student, api_for, anon_api):
    """The bank (with keys) is for the course's editors: members get 403, anonymous 401."""
    assert api_for(student).get(f"/api/v1/learning/courses/{secret_course.pk}/questions").status_code == 403
    assert anon_api.get(f"/api/v1/learning/courses/{secret_course.pk}/questions").status_code == 401
    owner = api_for(secret_course.owner).get(f"/api/v1/learning/courses/{secret_course.pk}/questions")
    assert owner.status_code == 200 and "SECRETKEY" in owner.content.decode()


def test_someone_elses_attempt_not_readable(secret_course, student, api_for, make_local_member):
    """Another member asking for an attempt gets 404 and no content."""
    started = _start(api_for(student), secret_course)
    response = api_for(make_local_member("eve")).get(f"/api/v1/learning/attempts/{started['id']}")
    assert response.status_code == 404 and "Capital" not in response.content.decode()


def test_forged_grade_refused_via_api(secret_course, student, api_for):
    """A submission carrying a score/passed is refused with 422; the attempt stays ungraded, no credits."""
    api = api_for(student)
    started = _start(api, secret_course)
    response = api.post(
        f"/api/v1/learning/attempts/{started['id']}/submit", {"answers": {}, "score": 100, "passed": True}
    )
    assert response.status_code == 422
    attempt = ExamAttempt.objects.get(pk=started["id"])
    assert attempt.state == AttemptState.IN_PROGRESS and attempt.score is None
    forged_inside = api.post(f"/api/v1/learning/attempts/{started['id']}/submit", {"answers": {"passed": True}})
    assert forged_inside.status_code == 422
    assert not CreditEntry.objects.exists()


def test_submission_graded_and_keys_revealed_after(secret_course, student, api_for):
    """Correct answers pass; the result then carries the keys and the credits are awarded once."""
    api = api_for(student)
    started = _start(api, secret_course)
    answers = {q["id"]: ("secretkey-BEIJING" if q["kind"] == "fill" else 1) for q in started["questions"]}
    response = api.post(f"/api/v1/learning/attempts/{started['id']}/submit", {"answers": answers})
    assert response.status_code == 200
    body = response.json()
    assert body["passed"] is True and body["score"] == 100 and "SECRETKEY" in response.content.decode()
    second = _start(api, secret_course)
    api.post(f"/api/v1/learning/attempts/{second['id']}/submit", {"answers": answers})
    assert list(CreditEntry.objects.values_list("credits", flat=True)) == [5]
    me = api.get("/api/v1/learning/me").json()
    assert me["credits_by_year"] == [{"year": timezone.localtime().year, "credits": 5}]


def test_submission_after_time_limit_refused_via_api(secret_course, student, api_for):
    """After the time limit the API answers 403 and stores neither answers nor a grade."""
    api = api_for(student)
    started = _start(api, secret_course)
    ExamAttempt.objects.filter(pk=started["id"]).update(deadline_at=timezone.now() - timedelta(seconds=60))
    response = api.post(f"/api/v1/learning/attempts/{started['id']}/submit", {"answers": {"1": "x"}})
    assert response.status_code == 403
    attempt = ExamAttempt.objects.get(pk=started["id"])
    assert attempt.state == AttemptState.EXPIRED and attempt.answers == {} and attempt.score is None


def test_attempt_beyond_limit_refused_via_api(secret_course, student, api_for):
    """With every attempt used, starting another answers 403 and stores nothing."""
    api = api_for(student)
    for _ in range(3):
        started = _start(api, secret_course)
        api.post(f"/api/v1/learning/attempts/{started['id']}/submit", {"answers": {}})
    response = api.post(f"/api/v1/learning/courses/{secret_course.pk}/exam/attempts")
    assert response.status_code == 403
    assert ExamAttempt.objects.filter(actor=student).count() == 3


def test_instructor_builds_and_publishes_course_via_api(instructor, api_for):
    """An instructor creates a course, adds a lesson and questions, sets the exam and publishes."""
    api = api_for(instructor)
    course = api.post("/api/v1/learning/courses", {"title": "党史", "credits": 2, "category": "历史"}).json()
    cid = course["id"]
    lesson = api.post(f"/api/v1/learning/courses/{cid}/lessons", {"title": "L1", "body": "<script>x</script>**b**"})
    assert lesson.status_code == 200 and "<script>" not in lesson.json()["html"]
    q = api.post(f"/api/v1/learning/courses/{cid}/questions", {"kind": "true_false", "prompt": "?", "answer": True})
    assert q.status_code == 200
    assert api.put(f"/api/v1/learning/courses/{cid}/exam", {"question_count": 1}).status_code == 200
    published = api.post(f"/api/v1/learning/courses/{cid}/publish")
    assert published.status_code == 200 and published.json()["state"] == "published"


def test_course_creation_refused_for_plain_member(student, api_for):
    """A member without the instructor role gets 403 and no course is stored."""
    response = api_for(student).post("/api/v1/learning/courses", {"title": "Mine"})
    assert response.status_code == 403
    assert not Course.objects.exists()


def test_node_report_staff_only_and_csv(make_course, student, api_for, make_local_member):
    """The node report is refused to members and exported as CSV for staff."""
    assert api_for(student).get("/api/v1/learning/reports/node").status_code == 403
    staff = make_local_member("boss")
    staff.user.is_staff = True
    staff.user.save()
    response = api_for(staff).get("/api/v1/learning/reports/node", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "handle,name,year,credits,courses" in response.content.decode("utf-8-sig")

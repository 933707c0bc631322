"""Acceptance of the network classroom across the devnet, through the client API as real clients
use it: an instructor on county-a publishes a course with two lessons and a five-question exam;
it reaches the province's catalog of shared courses; county-b's operator imports it (with the
answer keys, fetched signed by county-b's instance actor; an unsigned fetch never sees them); a
member on county-b completes the lessons, passes the exam and gets the credits once; the origin's
edit of lesson 1 reaches county-b's copy without losing the member's progress; county-b's credit
total shows in the province's statistics."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.e2e.helpers import get_json, wait_until

pytestmark = pytest.mark.e2e

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(node: Any, token: str | None, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    """Call ``node``'s client API (as the token's member, or anonymously); (status, JSON)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(f"{node.base_url}{path}", data=data, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except ValueError:
            return exc.code, raw[:500]


def api(node: Any, token: str | None, method: str, path: str, body: dict | None = None) -> Any:
    """Like :func:`call`, but the answer must be 2xx."""
    status, data = call(node, token, method, path, body)
    assert 200 <= status < 300, f"{node.name} {method} {path} -> {status}: {data!r}"
    return data


def _joined(node: Any) -> bool:
    out = node.manage("node", "hub-list", check=False).stdout
    return any(line.startswith("parent") and "accepted" in line for line in out.splitlines())


def _join_hub(node: Any) -> None:
    if not _joined(node):
        node.manage("node", "join-hub", check=False)
        wait_until(lambda: _joined(node), timeout=60, what=f"{node.name} to join the province")


def _member(node: Any, username: str, *extra: str) -> str:
    node.manage("member", "create", username, "--name", username.title(), *extra, "--random-password", check=True)
    return node.manage("member", "token", username, check=True).stdout.strip()


def _copy(node: Any, token: str, ap_id: str) -> dict | None:
    courses = api(node, token, "GET", "/api/v1/learning/courses?limit=200")
    match = next((c for c in courses if c["ap_id"] == ap_id), None)
    return api(node, token, "GET", f"/api/v1/learning/courses/{match['id']}") if match else None


def _publish_course(a: Any, token: str) -> tuple[dict, dict, dict[str, int]]:
    """The instructor builds and publishes the course; (course, lesson 1, prompt -> key index)."""
    course = api(a, token, "POST", "/api/v1/learning/courses", {"title": "党员教育基础", "credits": 2})
    cid = course["id"]
    first = api(a, token, "POST", f"/api/v1/learning/courses/{cid}/lessons", {"title": "第一课", "body": "党员"})
    api(a, token, "POST", f"/api/v1/learning/courses/{cid}/lessons", {"title": "第二课", "body": "组织"})
    keys = {}
    for n in range(5):
        question = {"kind": "single", "prompt": f"题目{n}", "choices": ["甲", "乙"], "answer": [n % 2]}
        api(a, token, "POST", f"/api/v1/learning/courses/{cid}/questions", question)
        keys[question["prompt"]] = n % 2
    api(a, token, "PUT", f"/api/v1/learning/courses/{cid}/exam", {"question_count": 5, "pass_mark": 60})
    api(a, token, "POST", f"/api/v1/learning/courses/{cid}/publish")
    return course, first, keys


def _pass_exam(node: Any, token: str, course_id: str, keys: dict[str, int]) -> dict:
    """Start an attempt (whose JSON must hold no keys) and submit the right answers."""
    attempt = api(node, token, "POST", f"/api/v1/learning/courses/{course_id}/exam/attempts")
    assert len(attempt["questions"]) == 5
    assert all("answer" not in q and "correct" not in q for q in attempt["questions"])
    answers = {q["id"]: keys[q["prompt"]] for q in attempt["questions"]}
    forged = {"answers": answers, "score": 100, "passed": True}
    status, _body = call(node, token, "POST", f"/api/v1/learning/attempts/{attempt['id']}/submit", forged)
    assert status == 422  # a forged grade is refused and the attempt stays open
    graded = api(node, token, "POST", f"/api/v1/learning/attempts/{attempt['id']}/submit", {"answers": answers})
    assert graded["passed"] is True and graded["score"] == 100
    return graded


def _credits(report: dict) -> int:
    return int(report["redcloud:own"]["learningCredits"])


def test_course_shared_studied_credited_and_counted_across_nodes(devnet):
    """Publish on county-a → province catalog → import on county-b → study, pass, credits once →
    origin edit reaches county-b → county-b's credits in the province's statistics."""
    province, a, b = devnet.nodes["province"], devnet.nodes["county-a"], devnet.nodes["county-b"]
    _join_hub(a)
    token_a = _member(a, "ltutor", "--staff")
    token_op = _member(b, "lop", "--staff")
    token_m = _member(b, "lstudent")

    course, first, keys = _publish_course(a, token_a)
    ap_id = course["ap_id"]
    status, public_doc = get_json(ap_id)  # unsigned: never the answer keys
    assert status == 200 and public_doc["name"] == "党员教育基础"
    assert "redcloud:questions" not in public_doc and "redcloud:answer" not in json.dumps(public_doc)
    status, _ = call(a, None, "GET", f"/api/v1/learning/courses/{course['id']}/questions")
    assert status == 401  # the question bank needs an editor's token

    def in_province_catalog() -> bool:
        entries = api(province, None, "GET", "/api/v1/learning/shared?" + urllib.parse.urlencode({"q": "党员"}))
        return ap_id in [e["id"] for e in entries]

    wait_until(in_province_catalog, timeout=60, what="the course to reach the province's catalog")

    status, refused = call(b, token_m, "POST", "/api/v1/learning/import", {"url": ap_id})
    assert status == 403, refused  # only the operator imports
    copy = api(b, token_op, "POST", "/api/v1/learning/import", {"url": ap_id})
    assert copy["local"] is False and copy["ap_id"] == ap_id
    assert [x["title"] for x in copy["lessons"]] == ["第一课", "第二课"]
    assert copy["exam"]["question_count"] == 5
    found = api(b, token_m, "GET", "/api/v1/learning/courses?" + urllib.parse.urlencode({"q": "党员"}))
    assert copy["id"] in [c["id"] for c in found]  # Chinese search finds the copy on county-b

    cid = copy["id"]
    api(b, token_m, "POST", f"/api/v1/learning/courses/{cid}/enrol")
    for lesson in copy["lessons"]:
        api(b, token_m, "GET", f"/api/v1/learning/lessons/{lesson['id']}")
        progress = api(b, token_m, "POST", f"/api/v1/learning/lessons/{lesson['id']}/complete")
    assert progress["progress"] == 100 and progress["completed_at"] is None  # the exam is still to pass
    _pass_exam(b, token_m, cid, keys)
    me = api(b, token_m, "GET", "/api/v1/learning/me")
    assert [(e["title"], e["credits"]) for e in me["ledger"]] == [("党员教育基础", 2)]
    _pass_exam(b, token_m, cid, keys)  # a second pass adds nothing
    me = api(b, token_m, "GET", "/api/v1/learning/me")
    assert len(me["ledger"]) == 1 and sum(y["credits"] for y in me["credits_by_year"]) == 2

    api(a, token_a, "PATCH", f"/api/v1/learning/lessons/{first['id']}", {"title": "第一课（修订）"})
    wait_until(
        lambda: (_copy(b, token_m, ap_id) or {"lessons": [{}]})["lessons"][0].get("title") == "第一课（修订）",
        timeout=90,
        what="the origin's edit of lesson 1 to reach county-b",
    )
    refreshed = _copy(b, token_m, ap_id)
    assert all(x["completed"] for x in refreshed["lessons"]) and refreshed["enrolment"]["progress"] == 100

    _join_hub(b)
    report = json.loads(b.manage("node", "report", "--json", check=True).stdout)
    assert _credits(report) >= 2
    domain_b = b.base_url.split("://", 1)[1]

    def province_has_b_credits() -> bool:
        status, body = get_json(f"{province.base_url}/api/v1/hub/stats", accept="application/json")
        rows = {row["domain"]: row["counts"] for row in body["nodes"]} if status == 200 else {}
        return rows.get(domain_b, {}).get("learningCredits") == _credits(report)

    wait_until(province_has_b_credits, timeout=60, what="county-b's credits in the province's statistics")
    status, totals = get_json(f"{province.base_url}/api/v1/hub/stats", accept="application/json")
    assert status == 200 and "learningCredits" in json.dumps(totals)

"""Course sharing across the devnet: an instructor on county-a publishes a course with two
lessons and a five-question exam; it reaches the province's catalog of shared courses; county-b's
operator imports it by URL (with the answer keys, fetched signed); an unsigned fetch never sees
the keys; the origin's edit of lesson 1 reaches county-b's copy."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.e2e.helpers import get_json, wait_until

pytestmark = pytest.mark.e2e

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(node: Any, token: str, method: str, path: str, body: dict | None = None) -> Any:
    """Call ``node``'s client API as the token's member; the answer must be 2xx."""
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(f"{node.base_url}{path}", data=data, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=20) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{node.name} {method} {path} -> {exc.code}: {exc.read()[:500]!r}") from None


def _joined(node: Any) -> bool:
    out = node.manage("node", "hub-list", check=False).stdout
    return any(line.startswith("parent") and "accepted" in line for line in out.splitlines())


def _copy_titles(node: Any, token: str, ap_id: str) -> list[str] | None:
    courses = api(node, token, "GET", "/api/v1/learning/courses?limit=200")
    match = next((c for c in courses if c["ap_id"] == ap_id), None)
    if match is None:
        return None
    full = api(node, token, "GET", f"/api/v1/learning/courses/{match['id']}")
    return [lesson["title"] for lesson in full["lessons"]]


def test_course_published_on_county_a_is_imported_and_refreshed_on_county_b(devnet):
    """Publish on county-a → province catalog → import on county-b → origin edit reaches county-b."""
    province, a, b = devnet.nodes["province"], devnet.nodes["county-a"], devnet.nodes["county-b"]
    if not _joined(a):
        a.manage("node", "join-hub", check=False)
        wait_until(lambda: _joined(a), timeout=60, what="county-a to join the province")
    a.manage("member", "create", "ltutor", "--name", "Tutor", "--staff", "--random-password", check=True)
    b.manage("member", "create", "lop", "--name", "Operator", "--staff", "--random-password", check=True)
    token_a = a.manage("member", "token", "ltutor", check=True).stdout.strip()
    token_b = b.manage("member", "token", "lop", check=True).stdout.strip()

    course = api(a, token_a, "POST", "/api/v1/learning/courses", {"title": "党员教育基础", "credits": 2})
    cid = course["id"]
    first = api(a, token_a, "POST", f"/api/v1/learning/courses/{cid}/lessons", {"title": "第一课", "body": "党员"})
    api(a, token_a, "POST", f"/api/v1/learning/courses/{cid}/lessons", {"title": "第二课", "body": "组织"})
    for n in range(5):
        question = {"kind": "single", "prompt": f"题目{n}", "choices": ["甲", "乙"], "answer": [n % 2]}
        api(a, token_a, "POST", f"/api/v1/learning/courses/{cid}/questions", question)
    api(a, token_a, "PUT", f"/api/v1/learning/courses/{cid}/exam", {"question_count": 5, "pass_mark": 60})
    api(a, token_a, "POST", f"/api/v1/learning/courses/{cid}/publish")
    ap_id = course["ap_id"]

    status, public_doc = get_json(ap_id)  # unsigned: never the answer keys
    assert status == 200 and public_doc["name"] == "党员教育基础"
    assert "redcloud:questions" not in public_doc and "redcloud:answer" not in json.dumps(public_doc)

    def in_catalog() -> bool:
        status, catalog = get_json(f"{province.base_url}/learning/shared")
        return status == 200 and ap_id in [item["id"] for item in catalog["orderedItems"]]

    wait_until(in_catalog, timeout=60, what="the course to reach the province's catalog")

    imported = b.manage("learning", "import-course", ap_id)
    assert imported.returncode == 0, imported.stderr
    assert _copy_titles(b, token_b, ap_id) == ["第一课", "第二课"]

    api(a, token_a, "PATCH", f"/api/v1/learning/lessons/{first['id']}", {"title": "第一课（修订）"})
    wait_until(
        lambda: (_copy_titles(b, token_b, ap_id) or [None])[0] == "第一课（修订）",
        timeout=90,
        what="the origin's edit of lesson 1 to reach county-b",
    )

"""Independent fediverse tools (../shared/interop) against a devnet node: WebFinger validator,
apmodel, fediverse-pasture's verify_actor, the funfedi.dev parsing cases and NodeInfo; then the
funfedi notes the node accepted are read back through the Mastodon client API."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from federation.sanitize import plain_text

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KIT = Path(__file__).resolve().parents[2].parent / "shared" / "interop" / "run"
RUNS = Path(os.environ.get("INTEROP_HOME", Path.home() / ".cache" / "redcloud-interop")) / "runs"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture(scope="module")
def kit_run(devnet):
    """Run the kit once against county-a (member ivy, group ivygroup); returns (node, output, run folder)."""
    if not KIT.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the interop kit is missing at {KIT}")
        pytest.skip(f"the interop kit is not beside this checkout ({KIT})")
    node = devnet.nodes["county-a"]
    node.manage("member", "create", "ivy", "--name", "Ivy", "--random-password", check=True)
    node.manage("group", "create", "ivygroup", "--name", "Ivy's branch", "--secretary", "ivy", check=True)
    domain = node.base_url.split("://", 1)[1]
    started = time.time()
    result = subprocess.run(
        [str(KIT), node.base_url, f"acct:ivy@{domain}", f"acct:ivygroup@{domain}"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    runs = sorted((p for p in RUNS.glob("*") if p.stat().st_mtime >= started - 1), key=lambda p: p.stat().st_mtime)
    return node, result, runs[-1] if runs else None


def test_interop_kit_reports_no_failure(kit_run):
    """The interop kit ends with '0 failed' against county-a, a member account and a group account."""
    _, result, _ = kit_run
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert result.returncode == 0, output[-4000:]
    assert any(line.strip().endswith(" passed, 0 failed") for line in output.splitlines()), output[-4000:]
    assert lines and not any(line.startswith("FAIL") for line in lines), "\n".join(lines)
    for check in ("webfinger acct:ivygroup@", "actor acct:ivygroup@", "verify_actor acct:ivygroup@"):
        assert any(line.startswith("PASS") and check in line for line in lines), f"no passing {check!r}:\n" + "\n".join(
            lines
        )


def test_funfedi_cases_to_the_group_inbox_never_fail_the_server(kit_run):
    """Every funfedi case POSTed to the group's inbox is answered without a 5xx."""
    _, _, run = kit_run
    assert run is not None and (run / "funfedi-group.jsonl").exists(), "the kit sent nothing to the group"
    cases = [json.loads(line) for line in (run / "funfedi-group.jsonl").read_text().splitlines()]
    assert len(cases) >= 50
    crashed = [c["case"] for c in cases if not isinstance(c.get("status"), int) or c["status"] >= 500]
    assert crashed == []


def _readable_notes(run: Path) -> list[dict]:
    """Accepted funfedi cases that are a well-formed Create of a Note by the sender with text."""
    cases = []
    for line in (run / "funfedi-user.jsonl").read_text().splitlines():
        case = json.loads(line)
        activity, obj = case.get("activity") or {}, (case.get("activity") or {}).get("object")
        if case.get("status") != 202 or activity.get("type") != "Create" or not isinstance(obj, dict):
            continue
        if obj.get("type") != "Note" or obj.get("attributedTo") != activity.get("actor"):
            continue
        if not isinstance(obj.get("content"), str) or not isinstance(obj.get("id"), str):
            continue
        cases.append(case)
    return cases


def test_funfedi_notes_are_stored_and_shown_by_the_client_api(kit_run):
    """Each accepted well-formed funfedi note is stored and served by /api/v1/statuses like Mastodon would."""
    node, _, run = kit_run
    assert run is not None and (run / "funfedi-user.jsonl").exists(), "the kit left no funfedi log"
    cases = _readable_notes(run)
    assert len(cases) >= 10, f"only {len(cases)} readable note cases in {run}"
    ids = [c["object_id"] for c in cases]
    script = (
        "import json\nfrom microblog.models import Post\n"
        f"print(json.dumps(dict(Post.objects.filter(ap_id__in={ids!r}).values_list('ap_id', 'pk'))))"
    )
    stored = json.loads(node.manage("shell", "-c", script, check=True).stdout.strip().splitlines()[-1])
    token = node.manage("member", "token", "ivy", check=True).stdout.strip()
    missing, wrong = [], []
    for case in cases:
        obj = case["activity"]["object"]
        pk = stored.get(obj["id"])
        if pk is None:
            missing.append(case["case"])
            continue
        request = urllib.request.Request(
            f"{node.base_url}/api/v1/statuses/{pk}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
            status = json.loads(response.read())
        text = plain_text(obj["content"]).strip()
        audience = obj.get("to", []) if isinstance(obj.get("to"), list) else [obj.get("to")]
        expected_visibility = "public" if PUBLIC in audience else None
        if text and text not in plain_text(status["content"]):
            wrong.append(f"{case['case']}: content {status['content']!r}")
        sender_host = case["activity"]["actor"].split("//", 1)[1].split("/", 1)[0]
        if status["uri"] != obj["id"] or not status["account"]["acct"].endswith("@" + sender_host):
            wrong.append(f"{case['case']}: uri/account {status['uri']} {status['account']['acct']}")
        if expected_visibility and status["visibility"] != expected_visibility:
            wrong.append(f"{case['case']}: visibility {status['visibility']}")
    assert missing == [], f"accepted but not stored: {missing}"
    assert wrong == [], "\n".join(wrong)

"""Issue 4 acceptance: the ``toot`` command-line client logs in to a running node and posts.

``toot`` keeps its apps and tokens in ``$XDG_CONFIG_HOME/toot/config.json``::

    {"apps": {"<domain>": {"instance", "base_url", "client_id", "client_secret"}},
     "users": {"<username>@<domain>": {"instance", "username", "access_token"}},
     "active_user": "<username>@<domain>"}

where ``<domain>`` is the ``uri`` of ``GET /api/v1/instance``. Each test gets its own config
folder, so the developer's real toot login is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mastodon import Mastodon

from tests.e2e.mastodon_helpers import client, ensure_member, member_exists, poll_for

pytestmark = pytest.mark.e2e

TOOT = shutil.which("toot", path=str(Path(sys.executable).parent)) or "toot"
PASSWORD = "Toot-e2e-Secret-42"


def run_toot(config_home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real ``toot`` CLI with its config under ``config_home`` and no proxy for loopback."""
    env = {
        key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy") and key != "TOOT_TESTING"
    }
    env.update(XDG_CONFIG_HOME=str(config_home), HOME=str(config_home), NO_PROXY="127.0.0.1,localhost", NO_COLOR="1")
    return subprocess.run(
        [TOOT, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )


def own_statuses(api: Mastodon) -> list:
    me = api.account_verify_credentials()
    return api.account_statuses(me.id, limit=40)


def test_toot_login_cli_then_post(devnet, tmp_path):
    """``toot login_cli`` (OAuth app registration + password grant) works, and ``toot post`` creates a visible post."""
    node = devnet.nodes["county-a"]
    if not member_exists(node, "tooter_mc"):
        node.manage(
            "member", "create", "tooter_mc", "--email", "tooter@example.org", "--password", PASSWORD, check=True
        )
    login = run_toot(
        tmp_path, "login_cli", "--instance", node.base_url, "--email", "tooter@example.org", "--password", PASSWORD
    )
    assert login.returncode == 0, f"toot login_cli failed:\n{login.stdout}\n{login.stderr}"
    config = json.loads((tmp_path / "toot" / "config.json").read_text())
    assert config["active_user"] and config["active_user"].startswith("tooter_mc@")

    posted = run_toot(tmp_path, "post", "Hello from toot login_cli #tootcli")
    assert posted.returncode == 0 and "Toot posted" in posted.stdout, f"{posted.stdout}\n{posted.stderr}"

    api = client(node, ensure_member(node, "tooter_mc"))
    found = poll_for(
        lambda: [s for s in own_statuses(api) if "Hello from toot login_cli" in s.content], "the toot via the API"
    )
    assert found[0].visibility == "public" and found[0].url in posted.stdout


def test_toot_with_token_config_posts_and_reads(devnet, tmp_path):
    """With a token written to toot's config file, ``toot whoami``, ``toot post`` and ``toot timelines account`` work."""
    node = devnet.nodes["county-a"]
    token = ensure_member(node, "tokentoot_mc")
    api = client(node, token)
    domain = api.instance_v1().uri.split("://", 1)[-1]  # toot reads v1's ``uri`` (and strips Pleroma's scheme)
    user_id = f"tokentoot_mc@{domain}"
    config_dir = tmp_path / "toot"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(
        json.dumps(
            {
                "apps": {
                    domain: {
                        "instance": domain,
                        "base_url": node.base_url,
                        "client_id": "unused-for-token-login",
                        "client_secret": "unused-for-token-login",
                    }
                },
                "users": {user_id: {"instance": domain, "username": "tokentoot_mc", "access_token": token}},
                "active_user": user_id,
            }
        )
    )

    whoami = run_toot(tmp_path, "whoami", "--json")
    assert whoami.returncode == 0, f"{whoami.stdout}\n{whoami.stderr}"
    assert json.loads(whoami.stdout)["username"] == "tokentoot_mc"

    posted = run_toot(tmp_path, "post", "--visibility", "unlisted", "--json", "Posted by toot with a token, 中文也行")
    assert posted.returncode == 0, f"{posted.stdout}\n{posted.stderr}"
    status = json.loads(posted.stdout)
    assert status["visibility"] == "unlisted"

    shown = api.status(status["id"])
    assert "中文也行" in shown.content and shown.account.username == "tokentoot_mc"
    timeline = run_toot(tmp_path, "timelines", "account", "tokentoot_mc", "--no-pager", "--no-clear", "--json")
    assert timeline.returncode == 0, f"{timeline.stdout}\n{timeline.stderr}"
    assert status["id"] in [s["id"] for s in json.loads(timeline.stdout)]

"""Helpers for end-to-end tests driven by real Mastodon clients (Mastodon.py, toot) against devnet nodes."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from mastodon import Mastodon
from PIL import Image

from tests.e2e.helpers import wait_until

_PROBLEM = re.compile(r"Traceback|ERROR|Error:|CRITICAL|rejected|failed", re.IGNORECASE)


def host(node: Any) -> str:
    """``127.0.0.1:port`` of ``node``: the domain part of its members' handles."""
    return node.base_url.split("://", 1)[1]


def member_exists(node: Any, username: str) -> bool:
    """Whether ``username`` is a member of ``node`` (``member list --json``)."""
    listing = json.loads(node.manage("member", "list", "--json", check=True).stdout or "[]")
    return any(row.get("username") == username for row in listing)


def ensure_member(node: Any, username: str) -> str:
    """Create ``username`` on ``node`` unless it exists; return a bearer token ("read write follow")."""
    if not member_exists(node, username):
        node.manage(
            "member", "create", username, "--name", username.split("_")[0].title(), "--random-password", check=True
        )
    token = node.manage("member", "token", username, check=True).stdout.strip().splitlines()[-1]
    assert token, f"{node.name}: empty token for {username}"
    return token


def client(node: Any, token: str) -> Mastodon:
    """A Mastodon.py client for ``node``; it reads the instance version first, as apps do to gate features."""
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    api = Mastodon(
        access_token=token,
        api_base_url=node.base_url,
        session=session,
        request_timeout=20,
        ratelimit_method="throw",
        version_check_mode="created",
    )
    api.retrieve_mastodon_version(fail_hard=True)
    assert api.mastodon_major >= 4, f"{node.name} claims Mastodon API {api.mastodon_major}.x; apps need 4.x"
    return api


def png_bytes(size: tuple[int, int] = (320, 200), colour: tuple[int, int, int] = (30, 140, 60)) -> bytes:
    """A small PNG made in memory."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def find_by_uri(statuses: list[Any], uri: str) -> Any:
    """The status (or the boosted status) whose ActivityPub ``uri`` is ``uri``, else None."""
    for status in statuses:
        if status.get("uri") == uri:
            return status
    return None


def poll_for(predicate: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """``wait_until`` with a readable message; federation is asynchronous."""
    return wait_until(predicate, timeout=timeout, interval=0.5, what=what)


def log_problems(nodes: list[Any], limit: int = 25) -> str:
    """The last lines of each node's web/worker logs that look like errors, for failure messages."""
    chunks = []
    for node in nodes:
        for kind in ("web", "worker"):
            path = node.log_path(kind)
            if not path.exists():
                continue
            lines = [line for line in path.read_text(errors="replace").splitlines() if _PROBLEM.search(line)]
            if lines:
                chunks.append(f"--- {node.name} {kind}.log ---\n" + "\n".join(lines[-limit:]))
    return "\n".join(chunks) or "(no error lines in the node logs)"


@contextmanager
def step(name: str, nodes: list[Any]) -> Iterator[None]:
    """Label a scenario step: a failure inside names the step and quotes the nodes' error log lines."""
    try:
        yield
    except Exception as exc:
        raise AssertionError(f"step {name!r} failed: {exc!r}\n{log_problems(nodes)}") from exc

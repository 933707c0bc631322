"""Helpers for end-to-end tests: real HTTP against devnet nodes, polling with deadlines."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

AS2 = "application/activity+json"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str, accept: str = AS2, timeout: float = 10) -> tuple[int, Any]:
    """GET ``url`` asking for ``accept``; returns (status, parsed JSON or None)."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def collection_items(url: str) -> list[str]:
    """All item ids of an OrderedCollection, following ``first``/``next`` pages."""
    status, head = get_json(url)
    assert status == 200, f"GET {url} -> {status}"
    items: list[str] = []
    page_url = head.get("first")
    while page_url:
        status, page = get_json(page_url)
        assert status == 200, f"GET {page_url} -> {status}"
        items += [i if isinstance(i, str) else i.get("id") for i in page.get("orderedItems", [])]
        page_url = page.get("next")
    return items


def wait_until(predicate: Callable[[], Any], *, timeout: float = 60, interval: float = 0.5, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate} (last: {last!r})")


def actor_id(node: Any, username: str) -> str:
    """The actor URL of ``username`` on ``node``, found by WebFinger over HTTP."""
    domain = node.base_url.split("://", 1)[1]
    status, jrd = get_json(
        f"{node.base_url}/.well-known/webfinger?resource=acct:{username}@{domain}", accept="application/jrd+json"
    )
    assert status == 200, f"webfinger {username}@{domain} -> {status}"
    return next(link["href"] for link in jrd["links"] if link["rel"] == "self")


def handle(node: Any, username: str) -> str:
    """``username@host:port`` of a member of ``node``."""
    return f"{username}@{node.base_url.split('://', 1)[1]}"

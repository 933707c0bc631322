"""The microblog web UI in a real browser at 360 px: sign in, post, follow a remote account on
another devnet node and reply to its post; every page checked for horizontal scrolling and
tap targets under 40 px, with screenshots saved as test artifacts."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.helpers import handle

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "Tea-garden-2024!"

# Controls that must be comfortable to tap (inline links inside post text are exempt, as in WCAG 2.5.8).
_TAP_TARGETS = (
    "button, .button, .act, .site-nav a, .tabs a, select, textarea, summary, .poll-choice, .post-time,"
    " .post-author, .account-link, .post-note a, .notification p > a, .notification-post, .pager a,"
    " input:not([type=hidden]):not([type=checkbox]):not([type=radio])"
)
_LAYOUT_JS = """(selector) => {
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;  // not rendered (closed <details>, hidden)
    if (r.height < 39.5 || r.width < 39.5) small.push(`${el.tagName}.${el.className} "${(el.textContent || el.name || '').trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  return {overflow: document.documentElement.scrollWidth - window.innerWidth, small};
}"""


def shot(page: Any, directory: Path, name: str) -> Path:
    """Save a full-page screenshot and check the 360 px layout: no horizontal scroll, tap targets >= 40 px."""
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    layout = page.evaluate(_LAYOUT_JS, _TAP_TARGETS)
    assert layout["overflow"] <= 0, f"{name}: page scrolls sideways by {layout['overflow']} px"
    assert not layout["small"], f"{name}: tap targets under 40 px: {layout['small']}"
    return path


def sign_in(page: Any, node: Any, username: str, directory: Path | None = None) -> None:
    """Sign in through the login form."""
    page.goto(f"{node.base_url}/accounts/login/")
    if directory is not None:
        shot(page, directory, "01-sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login" not in page.url, f"sign-in of {username} failed"


def publish(page: Any, node: Any, text: str) -> None:
    """Write a post with the compose form on the home timeline."""
    page.goto(f"{node.base_url}/timelines/home")
    page.fill("form.compose textarea[name=text]", text)
    page.click("form.compose .compose-submit button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".post-content", has_text=text).count() >= 1, f"{text!r} not on the home timeline"


def reload_until(page: Any, predicate: Any, *, timeout: float = 60, what: str = "") -> None:
    """Reload the page until ``predicate(page)`` holds (federation is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate(page):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)
        page.reload()


def test_sign_in_post_follow_remote_account_and_reply(devnet, new_page, screenshot_dir):
    """alice@county-a signs in, posts, finds bob@county-b by search, follows him, sees his new
    post arrive, and replies to it; the reply reaches county-b."""
    a, b = devnet.nodes["county-a"], devnet.nodes["county-b"]
    a.manage("member", "create", "alice", "--name", "Alice 艾丽", "--password", PASSWORD, check=True)
    b.manage("member", "create", "bob", "--name", "Bob 波波", "--password", PASSWORD, check=True)
    alice, bob = new_page(), new_page()

    sign_in(alice, a, "alice", screenshot_dir)
    publish(alice, a, "大家好，我是 Alice。#春茶")
    shot(alice, screenshot_dir, "02-home-after-post")
    alice.goto(f"{a.base_url}/@alice")
    assert alice.locator(".post-content", has_text="大家好").count() == 1
    shot(alice, screenshot_dir, "02b-my-page")
    alice.goto(f"{a.base_url}/timelines/home")
    alice.click("form.compose summary:has-text('发起投票')")
    shot(alice, screenshot_dir, "03-compose-poll-open")

    bob_handle = handle(b, "bob")
    alice.goto(f"{a.base_url}/search?q={quote(bob_handle)}")
    shot(alice, screenshot_dir, "04-search-remote-account")
    alice.click(f"a.account-link:has-text('@{bob_handle}')")
    alice.wait_for_load_state()
    assert alice.url.endswith(f"/@{bob_handle}")
    alice.click("[data-follow-state=none] button[type=submit]")
    alice.wait_for_load_state()
    reload_until(
        alice,
        lambda p: p.locator("[data-follow-state=accepted]").count() == 1,
        what="bob@county-b to accept alice's follow",
    )
    shot(alice, screenshot_dir, "05-remote-profile-followed")

    sign_in(bob, b, "bob")
    publish(bob, b, "来自 county-b 的问候 #春茶")
    shot(bob, screenshot_dir, "06-bob-home-on-county-b")

    alice.goto(f"{a.base_url}/timelines/home")
    reload_until(
        alice,
        lambda p: p.locator(".post-content", has_text="来自 county-b 的问候").count() == 1,
        what="bob's post to reach alice's home timeline",
    )
    shot(alice, screenshot_dir, "07-alice-home-with-remote-post")
    remote_post = alice.locator("article.post", has_text="来自 county-b 的问候")
    remote_post.locator("a.post-time").click()
    alice.wait_for_load_state()
    box = alice.locator("#reply textarea[name=text]")
    assert box.input_value().startswith(f"@{bob_handle}")
    box.fill(f"@{bob_handle} 欢迎来到红云！")
    alice.click("#reply .compose-submit button[type=submit]")
    alice.wait_for_load_state()
    assert alice.locator(".reply .post-content", has_text="欢迎来到红云").count() == 1
    shot(alice, screenshot_dir, "08-thread-with-reply")

    bob.goto(f"{b.base_url}/timelines/home")
    bob.locator("article.post", has_text="来自 county-b 的问候").locator("a.post-time").click()
    bob.wait_for_load_state()
    reload_until(
        bob,
        lambda p: p.locator(".reply .post-content", has_text="欢迎来到红云").count() == 1,
        what="alice's reply to reach bob's thread on county-b",
    )
    shot(bob, screenshot_dir, "09-bob-thread-with-remote-reply")
    bob.goto(f"{b.base_url}/notifications")
    shot(bob, screenshot_dir, "10-bob-notifications")


def test_pages_work_without_javascript(devnet, browser, screenshot_dir):
    """With JavaScript off a member still signs in, posts with a content warning, likes and deletes."""
    a = devnet.nodes["county-a"]
    a.manage("member", "create", "carol", "--name", "Carol", "--password", PASSWORD, check=True)
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False, locale="zh-CN")
    try:
        page = context.new_page()
        sign_in(page, a, "carol")
        page.goto(f"{a.base_url}/timelines/home")
        page.fill("form.compose textarea[name=text]", "没有脚本也能发帖")
        page.click("form.compose summary:has-text('内容警告')")
        page.fill("form.compose input[name=summary]", "无脚本测试")
        page.click("form.compose .compose-submit button[type=submit]")
        post = page.locator("article.post", has_text="无脚本测试")
        assert post.count() == 1
        post.locator("summary").click()
        assert post.locator(".post-content", has_text="没有脚本也能发帖").is_visible()
        post.locator("button.act", has_text="喜欢").click()
        post = page.locator("article.post", has_text="无脚本测试")
        assert post.locator("button.act.on", has_text="已喜欢").count() == 1
        shot(page, screenshot_dir, "11-no-js-liked")
        post.locator("button.act.danger").click()  # no confirm() without JavaScript
        assert page.locator("article.post", has_text="无脚本测试").count() == 0
        assert re.search(r"帖子已删除", page.content())
    finally:
        context.close()

"""Browser tests: Playwright for Python driving the system Chromium (``/usr/bin/chromium``),
headless, at a 360 x 740 viewport, against real devnet nodes. Screenshots go to
``test-artifacts/screenshots/`` (gitignored).

Without ``/usr/bin/chromium`` the tests are skipped locally; in CI (``CI`` set) a missing browser
fails them. The package ships its own driver; ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.devnet import Devnet
from tests.e2e.conftest import E2E_NODES, devnet_backends

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 360, "height": 740}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package (.ci/run does)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); browser tests need it")


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Devnet]:
    """The e2e devnet (province, county-a, county-b as real processes), for this module only.

    Same nodes and backends as ``tests/e2e``'s session fixture, but its own PostgreSQL database
    names (label ``browser<n>``) and the file-system broker: pytest cannot share the e2e
    directory's session fixture with this directory, and two devnets with the same label or
    Redis numbers would drop each other's databases.
    """
    _require_browser()
    backends = devnet_backends(worker_id, 3)
    net = Devnet(
        E2E_NODES,
        directory=tmp_path_factory.mktemp("browser-devnet"),
        startup_timeout=90,
        database_url=backends["database_url"],
        redis_url=None,
        label=str(backends["label"]).replace("e2e", "browser"),
    )
    net.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless system Chromium, one per module."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def new_page(browser):
    """Factory: a fresh page in its own context (own cookies) at 360 x 740, closed after the test."""
    contexts = []

    def make(locale: str = "zh-CN"):
        context = browser.new_context(
            viewport=VIEWPORT, locale=locale, device_scale_factor=1, is_mobile=True, has_touch=True
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where screenshots are written (created on demand)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

"""Shared fixtures. Unit tests run Celery eagerly; on-commit callbacks run via
``django_capture_on_commit_callbacks(execute=True)`` where a test needs them."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Run tasks in-process in unit tests."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = True
    settings.FEDERATION_DRAIN_LINGER = 0  # eager drains run inline: nothing can arrive meanwhile
    from node.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Each test gets an empty in-memory cache (flags, rate counters, key-refresh limits)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    cache.clear()
    _forget_process_caches()
    yield
    cache.clear()
    _forget_process_caches()


def _forget_process_caches() -> None:
    """Process-local caches (key owners, block list) must not outlive a test's database."""
    from federation import inbound
    from federation.policy import forget_blocks
    from federation.resolve import forget_keys

    forget_keys()
    forget_blocks()
    inbound._last_scheduled[0] = -1e9


@pytest.fixture
def fixture_path():
    """Path of a real ActivityPub document in ../shared/fixtures (e.g. 'mastodon/person.json')."""

    def _path(name: str) -> Path:
        path = FIXTURES / name
        if not path.exists():
            pytest.fail(f"fixture {name} not found under {FIXTURES}")
        return path

    return _path

"""Shared fixtures. Unit tests run Celery eagerly; on-commit callbacks run via
``django_capture_on_commit_callbacks(execute=True)`` where a test needs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from federation.actors import create_local_actor
from federation.keys import generate_key_pair
from federation.models import Actor, ActorType
from tests.federation.fakeserver import fake_server  # noqa: F401 - fixture

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


_KEY_POOL: list[tuple[str, str]] = []
_KEY_INDEX = [0]


def pooled_key_pair() -> tuple[str, str]:
    """A real RSA-2048 key pair from a pool of 16 made once per session, handed out in turn.

    Generating a key costs ~50-100 ms; the suite creates thousands of actors. Consecutive calls
    still give different keys, which is all the tests rely on."""
    if not _KEY_POOL:
        _KEY_POOL.extend(generate_key_pair() for _ in range(16))
    _KEY_INDEX[0] = (_KEY_INDEX[0] + 1) % len(_KEY_POOL)
    return _KEY_POOL[_KEY_INDEX[0]]


@pytest.fixture(autouse=True)
def _fast_keys_and_passwords(settings, monkeypatch):
    """Unit tests use pooled keys and a cheap password hash (Argon2 is slow by design)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr("federation.actors.generate_key_pair", pooled_key_pair)
    monkeypatch.setattr("federation.keyrotation.generate_key_pair", pooled_key_pair)


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


@pytest.fixture
def make_local_member(db):
    """Factory: a member (User) with its Person actor."""

    def make(username: str = "alice", **kwargs) -> Actor:
        user = get_user_model().objects.create_user(username=username, password="x-Secret-123")
        return create_local_actor(username=username, user=user, name=kwargs.pop("name", username.title()), **kwargs)

    return make


@pytest.fixture
def local_member(make_local_member) -> Actor:
    """alice, a member of this node."""
    return make_local_member("alice")


@pytest.fixture
def make_remote_actor(db):
    """Factory: a cached remote actor on ``domain`` with a real RSA key; returns (actor, private_pem)."""

    def make(
        username: str = "bob", domain: str = "remote.example", scheme: str = "https", **fields
    ) -> tuple[Actor, str]:
        private_pem, public_pem = pooled_key_pair()
        base = f"{scheme}://{domain}/users/{username}"
        actor = Actor.objects.create(
            ap_id=base,
            local=False,
            type=fields.pop("type", ActorType.PERSON),
            username=username,
            domain=domain,
            inbox_url=f"{base}/inbox",
            shared_inbox_url=f"{scheme}://{domain}/inbox",
            public_key_id=f"{base}#main-key",
            public_key_pem=public_pem,
            **fields,
        )
        from django.utils import timezone

        actor.fetched_at = timezone.now()
        actor.save(update_fields=["fetched_at"])
        return actor, private_pem

    return make


@pytest.fixture
def hold_deliveries(monkeypatch):
    """Deliveries stay pending (``federation.deliver.activity`` is not run), so tests can inspect
    ``Delivery`` rows and no traffic leaves the test; returns the list of queued activity ids."""
    from federation import outbox

    queued: list[int] = []

    class _Held:
        @staticmethod
        def delay(activity_id: int) -> None:
            queued.append(activity_id)

    monkeypatch.setattr(outbox, "deliver_activity_task", _Held)
    return queued

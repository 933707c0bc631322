"""P4 fixtures for the statuses/timelines/notifications/... API tests: bearer-token clients
for members, and a small PNG made with Pillow. Imported by name from the test modules."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model
from PIL import Image

from federation import actors as federation_actors
from federation.keys import generate_key_pair
from federation.models import Actor

_KEYS: list[tuple[str, str]] = []


@pytest.fixture
def fast_members(monkeypatch, settings):
    """Members are made fast: one RSA key pair reused and a cheap password hash (these tests
    exercise the client API, not keys or passwords)."""
    if not _KEYS:
        _KEYS.append(generate_key_pair())
    monkeypatch.setattr(federation_actors, "generate_key_pair", lambda: _KEYS[0])
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def token_for(db) -> Callable[..., str]:
    """Factory: a raw bearer token of ``actor``'s user with ``scope`` (default ``read write``)."""

    def make(actor: Actor, scope: str = "read write") -> str:
        app = get_application_model().objects.create(
            name="p4-tests",
            client_type="confidential",
            authorization_grant_type="authorization-code",
            redirect_uris="urn:ietf:wg:oauth:2.0:oob",
        )
        raw = secrets.token_urlsafe(24)
        get_access_token_model().objects.create(
            user=actor.user, application=app, token=raw, scope=scope, expires=timezone.now() + timedelta(days=1)
        )
        return raw

    return make


@pytest.fixture
def api_as(token_for) -> Callable[..., Client]:
    """Factory: a test client sending ``Authorization: Bearer`` for ``actor`` with ``scope``."""

    def make(actor: Actor, scope: str = "read write") -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {token_for(actor, scope)}")

    return make


@pytest.fixture
def alice(fast_members, make_local_member) -> Actor:
    """alice, a member of this node."""
    return make_local_member("alice")


@pytest.fixture
def bob(fast_members, make_local_member) -> Actor:
    """bob, another member of this node."""
    return make_local_member("bob")


@pytest.fixture
def carol(fast_members, make_local_member) -> Actor:
    """carol, a third member of this node."""
    return make_local_member("carol")


def png_bytes(size: tuple[int, int] = (32, 24), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid PNG image made with Pillow."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def media_root(settings, tmp_path):
    """Uploads go to a temporary ``MEDIA_ROOT``; yields that directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def stored_files(root) -> list:
    """Every file under ``root`` (empty when the directory does not exist)."""
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []

"""Fixtures for client API tests (shared with the statuses/timelines API tests).

- ``oauth_app``: a registered Mastodon client (DOT ``Application`` + ``ApiApplication``).
- ``make_token(actor, scopes="read write follow push")``: a raw bearer token for a member.
- ``api``: a test client speaking as alice with a full-scope token (``api.get(path)``,
  ``api.post(path, data)``, ``api.patch(...)``, ``api.delete(...)``; JSON bodies by default),
  with ``api.actor`` and ``api.token``; ``api_for(actor, scopes=...)`` builds others.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from microblog.models import ApiApplication

FULL_SCOPES = "read write follow push"
_KEYS: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _fast_members(monkeypatch, settings):
    """API tests make many members: reuse one RSA key pair and a cheap password hash (keys and
    password storage have their own tests)."""
    from federation import actors as federation_actors
    from federation.keys import generate_key_pair

    if not _KEYS:
        _KEYS.append(generate_key_pair())
    monkeypatch.setattr(federation_actors, "generate_key_pair", lambda: _KEYS[0])
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def oauth_app(db):
    """A registered client app with the full Mastodon scopes and an oob redirect."""
    Application = get_application_model()
    app = Application.objects.create(
        name="Test client",
        redirect_uris="urn:ietf:wg:oauth:2.0:oob https://client.example/callback",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        client_secret="test-secret",
    )
    ApiApplication.objects.create(application=app, website="https://client.example", scopes=FULL_SCOPES)
    return app


@pytest.fixture
def make_token(oauth_app):
    """Factory: a raw access token for ``actor`` (None = an app-only token) with ``scopes``."""

    def make(actor=None, scopes: str = FULL_SCOPES) -> str:
        raw = secrets.token_urlsafe(24)
        get_access_token_model().objects.create(
            user=actor.user if actor is not None else None,
            application=oauth_app,
            token=raw,
            scope=scopes,
            expires=timezone.now() + timedelta(days=1),
        )
        return raw

    return make


class ApiClient:
    """A Django test client sending a bearer token; bodies are JSON unless ``form=True``."""

    def __init__(self, token: str | None, actor=None) -> None:
        self.token = token
        self.actor = actor
        self.client = Client()

    def _headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, data: Any = None, **extra: Any):
        return self.client.get(path, data or {}, **self._headers(), **extra)

    def _send(self, method: str, path: str, data: Any, form: bool, **extra: Any):
        fn = getattr(self.client, method)
        if form:
            return fn(path, data or {}, **self._headers(), **extra)
        return fn(path, data or {}, content_type="application/json", **self._headers(), **extra)

    def post(self, path: str, data: Any = None, *, form: bool = False, **extra: Any):
        return self._send("post", path, data, form, **extra)

    def put(self, path: str, data: Any = None, **extra: Any):
        return self._send("put", path, data, False, **extra)

    def patch(self, path: str, data: Any = None, **extra: Any):
        return self._send("patch", path, data, False, **extra)

    def delete(self, path: str, data: Any = None, **extra: Any):
        return self._send("delete", path, data, False, **extra)


@pytest.fixture
def api_for(make_token):
    """Factory: an :class:`ApiClient` for ``actor`` with ``scopes``."""

    def make(actor, scopes: str = FULL_SCOPES) -> ApiClient:
        return ApiClient(make_token(actor, scopes), actor)

    return make


@pytest.fixture
def api(api_for, local_member) -> ApiClient:
    """alice's client with a full-scope token."""
    return api_for(local_member)


@pytest.fixture
def anon() -> ApiClient:
    """A client without a token."""
    return ApiClient(None)


# P4's fixtures (statuses, timelines, notifications, polls, media, search, markers tests).
from tests.microblog.api.conftest_p4 import alice, api_as, bob, carol, fast_members, media_root, token_for  # noqa: E402, F401

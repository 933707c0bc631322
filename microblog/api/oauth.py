"""OAuth 2 for Mastodon clients, on django-oauth-toolkit (DOT).

Mastodon's paths have no trailing slash (``/oauth/authorize``, ``/oauth/token``,
``/oauth/revoke``); the views here answer both forms and DOT's own routes under ``/oauth/``
stay. Differences from plain DOT that clients rely on:

- every registered app may use the authorization code (with optional PKCE ``S256``),
  client credentials, refresh token and password grants (the ``toot`` CLI's ``login_cli``
  still uses the password grant with the e-mail address as user name);
- ``urn:ietf:wg:oauth:2.0:oob`` redirects show the code on a page (``toot login``,
  Mastodon.py's ``auth_request_url`` default), and custom-scheme redirects
  (Tusky's ``oauth2redirect://``) are allowed when registered;
- scopes follow Mastodon's hierarchy (``read`` covers ``read:statuses``) and a token may not
  exceed the scopes its app registered;
- ``/oauth/token`` accepts JSON bodies (toot sends JSON for client credentials), answers with
  ``created_at`` and carries CORS headers for browser clients (Elk).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.datastructures import MultiValueDict
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.views import AuthorizationView, RevokeTokenView, TokenView

from microblog.api.auth import cors, scope_allows

OOB = "urn:ietf:wg:oauth:2.0:oob"
_UNSAFE_SCHEMES = {"javascript", "data", "vbscript", "file"}

# Mastodon 4.3's scopes (docs: API / OAuth scopes).
_GRANULAR = {
    "read": [
        "accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists", "mutes",
        "notifications", "search", "statuses",
    ],
    "write": [
        "accounts", "blocks", "bookmarks", "conversations", "favourites", "filters", "follows", "lists",
        "media", "mutes", "notifications", "reports", "statuses",
    ],
    "admin:read": [
        "accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
        "canonical_email_blocks",
    ],
    "admin:write": [
        "accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
        "canonical_email_blocks",
    ],
}  # fmt: skip
TOP_SCOPES = ["read", "write", "follow", "push", "profile", "admin:read", "admin:write"]
ALL_SCOPES: dict[str, str] = {s: s for s in TOP_SCOPES}
ALL_SCOPES.update({f"{top}:{sub}": f"{top}:{sub}" for top, subs in _GRANULAR.items() for sub in subs})
DEFAULT_SCOPES = ["read"]
GRANTS = {"authorization_code", "client_credentials", "refresh_token", "password"}


def app_scopes(application: Any) -> list[str]:
    """The scopes an app registered (``read`` for apps registered without any)."""
    info = getattr(application, "mastodon", None) if application is not None else None
    scopes = (getattr(info, "scopes", "") or "").split()
    return scopes or list(DEFAULT_SCOPES)


class MastodonScopes(BaseScopes):
    """DOT scopes backend: Mastodon's scope list; an app may ask only for what it registered
    (or a granular scope below it)."""

    def get_all_scopes(self) -> dict[str, str]:
        return dict(ALL_SCOPES)

    def get_available_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list:
        if application is None:
            return list(ALL_SCOPES)
        registered = app_scopes(application)
        return [s for s in ALL_SCOPES if any(scope_allows([r], s) for r in registered)]

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list:
        return list(DEFAULT_SCOPES)


class MastodonValidator(OAuth2Validator):
    """DOT request validator with Mastodon's rules (all grants for every app; e-mail login)."""

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *a: Any, **k: Any
    ) -> bool:
        return grant_type in GRANTS

    def validate_response_type(self, client_id: str, response_type: str, client: Any, request: Any, *a: Any, **k: Any):
        return response_type == "code"

    def validate_user(self, username: str, password: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        # toot's login_cli and Mastodon.py's log_in send the e-mail address as the user name.
        if "@" in (username or ""):
            user = get_user_model().objects.filter(email__iexact=username).order_by("pk").first()
            if user is not None:
                username = user.get_username()
        return bool(super().validate_user(username, password, client, request, *args, **kwargs))


def _code_page(code: str) -> HttpResponse:
    """The page shown for out-of-band redirects: the code to paste into the app."""
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
        "content='width=device-width, initial-scale=1'><title>Authorization code</title></head>"
        "<body><main><h1>Authorization code</h1><p>Copy this code and paste it into the application.</p>"
        f"<p><input readonly class='oauth-code' id='code' value='{escape(code)}' size='48'></p>"
        f"<pre id='code-text'>{escape(code)}</pre></main></body></html>"
    )
    return HttpResponse(body, content_type="text/html; charset=utf-8")


class MastodonAuthorizationView(AuthorizationView):
    """``GET/POST /oauth/authorize``: DOT's consent page (login required), plus out-of-band
    codes and the custom URL schemes of mobile apps."""

    def redirect(self, redirect_to: str, application: Any) -> HttpResponse:
        if redirect_to.startswith(OOB):
            query = parse_qs(urlparse(redirect_to).query)
            if "code" in query:
                return _code_page(query["code"][0])
            error = query.get("error", ["access_denied"])[0]
            return HttpResponse(f"<p>Authorization failed: {escape(error)}</p>", status=400)
        scheme = urlparse(redirect_to).scheme.lower()
        if application is not None and scheme and scheme not in _UNSAFE_SCHEMES:
            # oauthlib already checked redirect_to against the app's registered URIs.
            return OAuth2ResponseRedirect(redirect_to, [scheme])
        return super().redirect(redirect_to, application)


authorize = MastodonAuthorizationView.as_view()


def _json_body_as_form(request: HttpRequest) -> None:
    """Let oauthlib read a JSON body: it only understands form fields."""
    if not request.META.get("CONTENT_TYPE", "").startswith("application/json"):
        return
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        data = {}
    form = QueryDict(mutable=True)
    if isinstance(data, dict):
        for key, value in data.items():
            form[key] = (
                value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict) else str(value)
            )
    request._post = form  # type: ignore[attr-defined]
    request._files = MultiValueDict()  # type: ignore[attr-defined]
    request.META["CONTENT_TYPE"] = "application/x-www-form-urlencoded"


_token_view = TokenView.as_view()
_revoke_view = RevokeTokenView.as_view()


@csrf_exempt
def token(request: HttpRequest) -> HttpResponse:
    """``POST /oauth/token``: DOT's token endpoint with JSON bodies, ``created_at`` and CORS."""
    if request.method == "OPTIONS":
        return cors(HttpResponse())
    if request.method != "POST":
        return cors(HttpResponse(status=405))
    _json_body_as_form(request)
    response = _token_view(request)
    if response.status_code == 200:
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if isinstance(data, dict):
            data.setdefault("created_at", int(time.time()))
            data["token_type"] = "Bearer"  # noqa: S105 - the token type, not a secret
            response.content = json.dumps(data).encode()
    return cors(response)


@csrf_exempt
def revoke(request: HttpRequest) -> HttpResponse:
    """``POST /oauth/revoke``: revoke a token (Mastodon answers ``{}`` with 200)."""
    if request.method == "OPTIONS":
        return cors(HttpResponse())
    if request.method != "POST":
        return cors(HttpResponse(status=405))
    _json_body_as_form(request)
    response = _revoke_view(request)
    if response.status_code == 200:
        response = HttpResponse("{}", content_type="application/json")
    return cors(response)

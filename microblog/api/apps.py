"""``POST /api/v1/apps`` (register a client) and ``GET /api/v1/apps/verify_credentials``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.db import transaction
from django.http import HttpRequest
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from microblog.api.auth import api_view, param_list, param_str
from microblog.api.errors import ApiError, ValidationFailed, json_response
from microblog.api.oauth import ALL_SCOPES, OOB, app_scopes
from microblog.models import ApiApplication

_UNSAFE_SCHEMES = {"javascript", "data", "vbscript", "file"}


def _redirect_uris(value: Any) -> list[str]:
    """Mastodon takes one string (several URIs separated by new lines or spaces) or, since
    4.3, an array."""
    uris: list[str] = []
    for item in param_list(value):
        uris.extend(str(item).split())
    if not uris:
        raise ValidationFailed("Redirect URI can't be blank")
    for uri in uris:
        parsed = urlparse(uri)
        if uri != OOB and (not parsed.scheme or parsed.scheme.lower() in _UNSAFE_SCHEMES or "#" in uri):
            raise ValidationFailed("Redirect URI must be an absolute URI.")
        if parsed.scheme in ("http", "https") and not parsed.netloc:
            raise ValidationFailed("Redirect URI must be an absolute URI.")
    return uris


def _scopes(value: Any) -> list[str]:
    scopes = (param_str(value) or "read").split()
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ValidationFailed(f"Scopes {' '.join(unknown)} are not recognised")
    return scopes


def _app_entity(app: Any, info: ApiApplication | None) -> dict[str, Any]:
    uris = app.redirect_uris.split()
    return {
        "id": str(app.pk),
        "name": app.name,
        "website": (info.website or None) if info else None,
        "scopes": app_scopes(app),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
        "vapid_key": "",
    }


@api_view(None, methods=("POST",))
def create_app(request: HttpRequest) -> Any:
    """Register a client: ``client_name``, ``redirect_uris``, ``scopes`` (default ``read``),
    ``website``. Answers the Application entity with ``client_id`` and ``client_secret`` (the
    secret is shown only here: it is stored hashed)."""
    params = request.params  # type: ignore[attr-defined]
    name = param_str(params.get("client_name")).strip()
    if not name:
        raise ValidationFailed("Application name can't be blank")
    if len(name) > 60:
        raise ValidationFailed("Application name is too long (maximum is 60 characters)")
    uris = _redirect_uris(params.get("redirect_uris"))
    scopes = _scopes(params.get("scopes"))
    website = param_str(params.get("website")).strip()
    if website and urlparse(website).scheme not in ("http", "https"):
        raise ValidationFailed("Website is invalid")
    secret = generate_client_secret()
    Application = get_application_model()
    with transaction.atomic():
        app = Application(
            name=name,
            redirect_uris=" ".join(uris),
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            client_secret=secret,
            skip_authorization=False,
        )
        app.save()
        info = ApiApplication.objects.create(application=app, website=website[:500], scopes=" ".join(scopes))
    data = _app_entity(app, info)
    data.update({"client_id": app.client_id, "client_secret": secret, "client_secret_expires_at": 0})
    return json_response(data)


@api_view(None)
def verify_app(request: HttpRequest) -> Any:
    """``GET /api/v1/apps/verify_credentials``: the app of the token (user or app token)."""
    token = request.token  # type: ignore[attr-defined]
    if token is None or token.application is None:
        raise ApiError("The access token is invalid", 401)
    app = token.application
    info = ApiApplication.objects.filter(application=app).first()
    return _app_entity(app, info)

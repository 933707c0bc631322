"""Authentication, scopes, parameters, CORS and rate limits of the client API.

Every API view is wrapped with :func:`api_view`. It reads the bearer token (header
``Authorization: Bearer ...`` or the ``access_token`` parameter, as Mastodon's Doorkeeper
accepts both), checks the token's scopes against the endpoint's, sets ``request.token``,
``request.user``, ``request.actor`` and ``request.params``, answers CORS pre-flights, and turns
:class:`~microblog.api.errors.ApiError` (and ``ObjectDoesNotExist``/``PermissionDenied``) into
Mastodon's ``{"error": ...}`` answers. API views never use the session cookie, so they are
CSRF-exempt.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import get_access_token_model

from microblog.api import errors

# Mastodon's legacy ``follow`` scope grants these granular scopes (docs: OAuth scopes).
LEGACY_FOLLOW = frozenset({"read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes"})

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, Idempotency-Key",
    "Access-Control-Expose-Headers": "Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, "
    "X-Request-Id, Idempotency-Key",
    "Access-Control-Max-Age": "7200",
}

Scopes = str | None | Iterable[str] | Mapping[str, Any]


def scope_allows(granted: Iterable[str], required: str) -> bool:
    """True when a token with ``granted`` scopes may use an endpoint needing ``required``.

    Mastodon's hierarchy: ``read`` covers ``read:statuses``, ``admin:read`` covers
    ``admin:read:accounts``; the legacy ``follow`` scope covers follows, blocks and mutes."""
    have = set(granted)
    if required in have:
        return True
    parts = required.split(":")
    for cut in range(len(parts) - 1, 0, -1):
        if ":".join(parts[:cut]) in have:
            return True
    return required in LEGACY_FOLLOW and "follow" in have


def _scope_ok(granted: Iterable[str], required: str | Iterable[str]) -> bool:
    """``required`` is one scope or several alternatives (any one suffices)."""
    options = [required] if isinstance(required, str) else list(required)
    return any(scope_allows(granted, option) for option in options)


def cors(response: HttpResponse) -> HttpResponse:
    """Add the CORS headers that let browser clients (Elk, Phanpy) call the API from any origin."""
    for name, value in CORS_HEADERS.items():
        response[name] = value
    return response


def bearer_token(request: HttpRequest) -> str | None:
    """The raw access token sent with the request, if any (header first, then parameter)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    value = request.GET.get("access_token") or (request.POST.get("access_token") if request.method == "POST" else None)
    return value or None


def find_token(raw: str) -> Any | None:
    """The live (unexpired) access token row for a raw token, or None."""
    checksum = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    token = (
        get_access_token_model().objects.select_related("user", "application").filter(token_checksum=checksum).first()
    )
    if token is None or token.is_expired():
        return None
    return token


# ---------------------------------------------------------------- parameters


def _rails_keys(key: str) -> list[str]:
    """``poll[options][]`` -> ``["poll", "options", ""]`` (Rails' nested parameter names)."""
    head, _, rest = key.partition("[")
    parts = [head]
    while rest:
        inner, _, rest = rest.partition("]")
        parts.append(inner)
        rest = rest[1:] if rest.startswith("[") else ""
    return parts


def _assign(target: dict[str, Any], parts: list[str], values: list[Any]) -> None:
    is_list = len(parts) > 1 and parts[-1] == ""
    path = parts[:-2] if is_list else parts[:-1]
    key = parts[-2] if is_list else parts[-1]
    node = target
    for part in path:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if is_list:
        existing = node.get(key)
        node[key] = (existing if isinstance(existing, list) else []) + values
    else:
        node[key] = values[-1]


def nest_querydict(data: QueryDict) -> dict[str, Any]:
    """A flat form/query dict as Rails would see it: ``id[]`` lists, ``source[note]`` dicts."""
    out: dict[str, Any] = {}
    for key in data:
        _assign(out, _rails_keys(key), data.getlist(key))
    return out


def _form_body(request: HttpRequest) -> QueryDict:
    """Form fields of any method (Django only parses POST bodies itself)."""
    if request.method == "POST":
        return request.POST
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return QueryDict()
    method = request.method
    try:
        request.method = "POST"  # Django's own parser only runs for POST
        request._load_post_and_files()  # type: ignore[attr-defined]
    finally:
        request.method = method
    return request.POST


def read_params(request: HttpRequest) -> dict[str, Any]:
    """All parameters of a request: the query string, then a JSON, form-encoded or multipart
    body on top. Nested names follow Rails (``media_ids[]``, ``poll[options][]``,
    ``source[language]``), so ``params["poll"]["options"]`` is a list either way. Files stay
    in ``request.FILES``."""
    params = nest_querydict(request.GET)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return params
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("application/json"):
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.ApiError("Invalid JSON body", 400) from exc
        if isinstance(body, dict):
            params.update(body)
    else:
        params.update(nest_querydict(_form_body(request)))
    return params


_FALSE = {"false", "0", "f", "off", "no", "n"}


def param_bool(value: Any, default: bool = False) -> bool:
    """A boolean parameter as Rails reads it: ``false``/``0``/``f``/``off`` are false, empty is
    the default, anything else is true."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return param_bool(value[-1] if value else None, default)
    return str(value).strip().lower() not in _FALSE


def param_list(value: Any) -> list[Any]:
    """A list parameter (``id[]=1&id[]=2``, ``id=1`` or a JSON list) as a list."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):  # fields_attributes[0][name]=...: ordered by key
        return [value[k] for k in sorted(value, key=lambda k: (len(str(k)), str(k)))]
    return [value]


def param_str(value: Any, default: str = "") -> str:
    """A string parameter (the last value of a repeated one)."""
    if isinstance(value, list):
        value = value[-1] if value else None
    return default if value is None else str(value)


def param_int(value: Any, default: int | None = None) -> int | None:
    """An integer parameter, or ``default`` when absent; 422 when not a number."""
    text = param_str(value)
    if text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise errors.ValidationFailed(f"{text!r} is not a number") from exc


# ---------------------------------------------------------------- rate limit


def _rate_limited(request: HttpRequest, key: str) -> tuple[bool, dict[str, str]]:
    """Mastodon-like limit: ``MICROBLOG_API_RATE_LIMIT`` requests per
    ``MICROBLOG_API_RATE_PERIOD`` seconds per token (or per client address)."""
    limit = int(getattr(settings, "MICROBLOG_API_RATE_LIMIT", 1500))
    period = int(getattr(settings, "MICROBLOG_API_RATE_PERIOD", 300))
    if limit <= 0:
        return False, {}
    window = int(time.time() // period)
    cache_key = f"api-rate:{key}:{window}"
    cache.add(cache_key, 0, period)
    try:
        used = cache.incr(cache_key)
    except ValueError:
        used = 1
    reset = datetime.fromtimestamp((window + 1) * period, tz=UTC)
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, limit - used)),
        "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    return used > limit, headers


# ---------------------------------------------------------------- the decorator


def _required_for(scopes: Scopes, method: str) -> Any:
    if isinstance(scopes, Mapping):
        return scopes.get(method, scopes.get("*"))
    return scopes


def api_view(
    scopes: Scopes,
    *,
    methods: Iterable[str] = ("GET",),
    user_required: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
    """Wrap a client API view.

    ``scopes``: the scope the endpoint needs (``"read:accounts"``), several alternatives (a
    tuple), ``None`` for a public endpoint (a token is still read when sent, so ``request.actor``
    is the viewer), or a mapping per HTTP method (``{"GET": None, "DELETE": "write:statuses"}``).
    ``user_required``: an endpoint with scopes refuses app-only tokens (client credentials) with
    422, as Mastodon does. The view returns a ``dict``/``list`` (sent as JSON 200) or an
    ``HttpResponse``; it may raise ``ApiError``, ``ObjectDoesNotExist`` (404),
    ``PermissionDenied`` (403). Every answer carries CORS and rate-limit headers.
    """
    allowed = {m.upper() for m in methods}

    def decorate(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                return cors(HttpResponse(status=200))
            rate_headers: dict[str, str] = {}
            try:
                response = _run(request, view, args, kwargs, scopes, allowed, user_required, rate_headers)
            except errors.ApiError as exc:
                response = exc.response()
            except (ObjectDoesNotExist, Http404):
                response = errors.error_response(errors.NOT_FOUND, 404)
            except PermissionDenied as exc:
                response = errors.error_response(str(exc) or "This action is not allowed", 403)
            for name, value in rate_headers.items():
                response[name] = value
            return cors(response)

        return csrf_exempt(wrapper)

    return decorate


def _run(
    request: HttpRequest,
    view: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    scopes: Scopes,
    allowed: set[str],
    user_required: bool,
    rate_headers: dict[str, str],
) -> HttpResponse:
    if request.method not in allowed and not (request.method == "HEAD" and "GET" in allowed):
        raise errors.ApiError("Method not allowed", 405)
    raw = bearer_token(request)
    token = find_token(raw) if raw else None
    if raw and token is None:
        raise errors.ApiError(errors.INVALID_TOKEN, 401)
    request.token = token  # type: ignore[attr-defined]
    request.user = token.user if token is not None and token.user is not None else AnonymousUser()
    request.actor = None  # type: ignore[attr-defined]
    if request.user.is_authenticated:
        if not request.user.is_active:
            raise errors.ApiError("Your login is currently disabled", 403)
        try:
            request.actor = request.user.actor  # type: ignore[attr-defined,union-attr]
        except ObjectDoesNotExist:
            request.actor = None  # type: ignore[attr-defined]
    required = _required_for(scopes, request.method or "GET")
    if required:
        if token is None:
            raise errors.ApiError(errors.INVALID_TOKEN, 401)
        if not _scope_ok(token.scope.split(), required):
            raise errors.ApiError(errors.OUTSIDE_SCOPES, 403)
        if user_required and request.actor is None:  # type: ignore[attr-defined]
            raise errors.ApiError(errors.USER_REQUIRED, 422)
    limited, headers = _rate_limited(request, f"t{token.pk}" if token else f"ip{request.META.get('REMOTE_ADDR', '')}")
    rate_headers.update(headers)
    if limited:
        raise errors.ApiError(errors.TOO_MANY_REQUESTS, 429)
    request.params = read_params(request)  # type: ignore[attr-defined]
    result = view(request, *args, **kwargs)
    if isinstance(result, HttpResponse):
        return result
    return errors.json_response(result)

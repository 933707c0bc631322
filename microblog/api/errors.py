"""JSON responses and errors of the Mastodon-compatible client API.

Mastodon answers every error with ``{"error": "<message>"}`` (sometimes ``error_description``
too) and a meaningful status code; clients such as Tusky show ``error`` to the member, so the
messages below are Mastodon's own wording where one exists.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

INVALID_TOKEN = "The access token is invalid"  # noqa: S105 - an error message
OUTSIDE_SCOPES = "This action is outside the authorized scopes"
NOT_FOUND = "Record not found"
USER_REQUIRED = "This method requires an authenticated user"
TOO_MANY_REQUESTS = "Too many requests"


class ApiError(Exception):
    """Raise from an API view to answer ``{"error": message}`` with ``status``.

    ``extra`` adds keys next to ``error`` (e.g. Mastodon's ``details`` on 422)."""

    def __init__(self, message: str, status: int = 422, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra

    def response(self) -> JsonResponse:
        """The JSON response for this error."""
        return error_response(self.message, self.status, **self.extra)


class NotFound(ApiError):
    """404 ``Record not found`` (also for records the viewer may not see: same answer)."""

    def __init__(self, message: str = NOT_FOUND) -> None:
        super().__init__(message, 404)


class Forbidden(ApiError):
    """403 with Mastodon's wording for the case."""

    def __init__(self, message: str = "This action is not allowed") -> None:
        super().__init__(message, 403)


class ValidationFailed(ApiError):
    """422 ``Validation failed: <detail>`` (Rails' ActiveRecord::RecordInvalid wording)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Validation failed: {detail}", 422)


def json_response(
    data: Any, *, status: int = 200, link: str | None = None, headers: dict[str, str] | None = None
) -> JsonResponse:
    """A JSON answer (objects or lists) with an optional pagination ``Link`` header."""
    response = JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})
    if link:
        response["Link"] = link
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(message: str, status: int, **extra: Any) -> JsonResponse:
    """``{"error": message, ...extra}`` with ``status``."""
    return json_response({"error": message, **extra}, status=status)


def api_fallback(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Last route under ``/api/``: a path with a trailing slash is served by the route without
    it (Mastodon.py asks for ``/api/v1/instance/``; Rails ignores the slash); anything else is
    a JSON 404 with CORS headers."""
    from django.urls import Resolver404, resolve

    path = request.path_info
    if path.endswith("/") and len(path) > 1:
        try:
            match = resolve(path.rstrip("/"))
        except Resolver404:
            match = None
        if match is not None and match.func is not api_fallback:
            request.path_info = path.rstrip("/")
            return match.func(request, *match.args, **match.kwargs)  # type: ignore[no-any-return]
    response = error_response(NOT_FOUND, 404)
    response["Access-Control-Allow-Origin"] = "*"
    return response

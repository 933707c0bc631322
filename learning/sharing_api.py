"""Client API of course sharing (Redcloud extension, documented in ``docs/openapi.yaml``):

- ``GET /api/v1/learning/shared``: the catalog of shared courses this node knows (courses other
  nodes announced to it, and its own published ones); on the province hub, the province's catalog.
- ``POST /api/v1/learning/import``: the node's operator (a staff account) imports a course by its
  URL, or refreshes the copy; answers the local copy as ``/api/v1/learning/courses/{id}`` does.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from learning import sharing
from learning.api import course_json
from learning.errors import LearningError
from learning.sharing_views import catalog_entries
from microblog.api import errors
from microblog.api.auth import api_view, param_int, param_str


@api_view(None)
def shared(request: HttpRequest) -> Any:
    """The shared catalog (``q``: text in the title or summary; ``limit`` up to 500), each entry
    with ``imported`` (a copy exists here, or the course is ours)."""
    params = request.params  # type: ignore[attr-defined]
    query = param_str(params.get("q")).strip().casefold()[:100]
    limit = min(max(param_int(params.get("limit"), 100) or 100, 1), 500)
    rows = catalog_entries()
    if query:
        rows = [e for e in rows if query in f"{e['name']} {e['summary']} {e['category']}".casefold()]
    return rows[:limit]


@api_view("write", methods=("POST",))
def import_course(request: HttpRequest) -> Any:
    """Staff only: import (or refresh) the course at ``url``. Refusals store nothing: 403 for other
    accounts, 409 for a course made here, 502 when the origin cannot be fetched, 422 when the
    document is not a usable course or comes without the answer keys its exam needs."""
    if not (request.user.is_authenticated and request.user.is_staff):
        raise errors.Forbidden()
    url = param_str(request.params.get("url")).strip()[:500]  # type: ignore[attr-defined]
    if not url:
        raise errors.ValidationFailed("url is required")
    try:
        course = sharing.import_course(url, by=request.actor)  # type: ignore[attr-defined]
    except LearningError as exc:
        raise errors.ApiError(exc.message, exc.status, code=exc.code) from None
    return course_json(course, viewer=request.actor, full=True)  # type: ignore[attr-defined]

"""Client API: ``GET /api/v2/search`` (docs.joinmastodon.org/methods/search).

``q``, ``type`` (``accounts``, ``hashtags``, ``statuses``), ``resolve``, ``following``,
``limit`` (20, at most 40 per category) and ``offset``. Anonymous callers may search but, as on Mastodon 4, not
``resolve`` remote resources nor page with ``offset`` (401). The search itself is
``microblog.search.search`` (full text including Chinese, remote accounts by ``user@domain``,
posts by URL).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from microblog import search as search_service
from microblog.api import account_serializers, errors, serializers
from microblog.api.auth import api_view, param_bool, param_int, param_str
from microblog.api.statuses import optional_scope

TYPES = ("accounts", "hashtags", "statuses")
DEFAULT_LIMIT, MAX_LIMIT = 20, 40


@api_view(None)
def search(request: HttpRequest) -> Any:
    """Accounts, statuses and hashtags matching ``q`` that the caller may see."""
    optional_scope(request, "read:search")
    params = request.params  # type: ignore[attr-defined]
    viewer = request.actor  # type: ignore[attr-defined]
    resolve = param_bool(params.get("resolve"))
    offset = max(0, param_int(params.get("offset"), 0) or 0)
    if viewer is None and resolve:
        raise errors.ApiError(
            "Search queries that resolve remote resources are not supported without authentication", 401
        )
    if viewer is None and offset:
        raise errors.ApiError("Search queries pagination is not supported without authentication", 401)
    limit = max(1, min(param_int(params.get("limit"), DEFAULT_LIMIT) or DEFAULT_LIMIT, MAX_LIMIT))
    kind = param_str(params.get("type")).strip() or None
    if kind not in TYPES:
        kind = None
    q = param_str(params.get("q")).strip()
    empty: dict[str, Any] = {"accounts": [], "statuses": [], "hashtags": []}
    if not q:
        return empty
    found = search_service.search(
        viewer,
        q,
        type=kind,
        resolve=resolve,
        limit=limit,
        offset=offset,
        following=param_bool(params.get("following")) and viewer is not None,
    )
    accounts = list(found.get("accounts") or [])[:limit]
    statuses = list(found.get("statuses") or [])[:limit]
    hashtags = list(found.get("hashtags") or [])[:limit]
    return {
        "accounts": account_serializers.accounts(accounts, viewer=viewer) if kind in (None, "accounts") else [],
        "statuses": serializers.statuses(statuses, viewer=viewer) if kind in (None, "statuses") else [],
        "hashtags": [serializers.tag(h) for h in hashtags] if kind in (None, "hashtags") else [],
    }

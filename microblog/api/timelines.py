"""Client API: timelines (docs.joinmastodon.org/methods/timelines).

``GET /api/v1/timelines/home``, ``/public`` (``local``, ``remote``, ``only_media``) and
``/tag/:hashtag``, each a page of statuses newest first with a ``Link`` header (``next`` =
older with ``max_id``, ``prev`` = newer with ``min_id``). The reading itself is
``microblog.timelines``; this module only translates parameters and answers.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from microblog import timelines
from microblog.api import errors, serializers
from microblog.api.auth import api_view, param_bool
from microblog.api.pagination import link_header, page_params
from microblog.api.statuses import optional_scope
from microblog.models import Post


def _answer(request: HttpRequest, posts: list[Post]) -> Any:
    """A page of statuses with its ``Link`` header."""
    data = serializers.statuses(posts, viewer=request.actor)  # type: ignore[attr-defined]
    return errors.json_response(data, link=link_header(request, posts))


@api_view("read:statuses")
def home(request: HttpRequest) -> Any:
    """``GET /api/v1/timelines/home``: the caller's posts and those of the accounts it follows."""
    page = page_params(request)
    return _answer(request, timelines.home(request.actor, **page.as_kwargs()))  # type: ignore[attr-defined]


def _place_filters(request: HttpRequest) -> dict[str, bool]:
    params = request.params  # type: ignore[attr-defined]
    return {
        "local": param_bool(params.get("local")),
        "remote": param_bool(params.get("remote")),
        "only_media": param_bool(params.get("only_media")),
    }


@api_view(None)
def public(request: HttpRequest) -> Any:
    """``GET /api/v1/timelines/public``: public statuses (``local``: this node's only,
    ``remote``: other servers' only, ``only_media``: with attachments). Open to anonymous
    readers, as Mastodon's public preview."""
    optional_scope(request, "read:statuses")
    page = page_params(request)
    posts = timelines.public(request.actor, **_place_filters(request), **page.as_kwargs())  # type: ignore[attr-defined]
    return _answer(request, posts)


@api_view(None)
def tag(request: HttpRequest, hashtag: str) -> Any:
    """``GET /api/v1/timelines/tag/:hashtag``: public statuses with ``#hashtag``. An unknown tag
    gives an empty list, as Mastodon's TagController answers (not the 404 its docs mention)."""
    optional_scope(request, "read:statuses")
    page = page_params(request)
    posts = timelines.hashtag(
        request.actor,  # type: ignore[attr-defined]
        hashtag,
        **_place_filters(request),
        **page.as_kwargs(),
    )
    return _answer(request, posts)

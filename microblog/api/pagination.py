"""Mastodon-style pagination: ``max_id`` / ``since_id`` / ``min_id`` / ``limit`` and a ``Link``
header with ``rel="next"`` (older items, ``max_id``) and ``rel="prev"`` (newer items,
``min_id``). Clients (Tusky, Mastodon.py's ``fetch_next``) follow the ``Link`` URLs verbatim.

- ``max_id``: items with a smaller id (older), newest first.
- ``since_id``: items with a larger id, newest first (the newest page above ``since_id``).
- ``min_id``: items with a larger id, the ones *just after* ``min_id`` (oldest first in the
  query, returned newest first), used to page forwards without gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpRequest

from microblog.api.auth import param_int, param_str

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


@dataclass(frozen=True)
class PageParams:
    """The pagination parameters of a request (ids as ints, None when absent)."""

    max_id: int | None
    since_id: int | None
    min_id: int | None
    limit: int

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``timelines.*(viewer, **page.as_kwargs())``."""
        return {"max_id": self.max_id, "since_id": self.since_id, "min_id": self.min_id, "limit": self.limit}


def _id(value: Any) -> int | None:
    text = param_str(value).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # Mastodon ignores ids it cannot parse


def page_params(request: HttpRequest, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> PageParams:
    """Read ``max_id``/``since_id``/``min_id``/``limit`` (limit clamped to 1..``maximum``)."""
    params = getattr(request, "params", None) or request.GET
    limit = param_int(params.get("limit"), default) or default
    limit = max(1, min(limit, maximum))
    return PageParams(_id(params.get("max_id")), _id(params.get("since_id")), _id(params.get("min_id")), limit)


def apply(queryset: QuerySet[Any], page: PageParams, *, field: str = "id") -> list[Any]:
    """One page of ``queryset`` by the integer ``field``, newest (largest) first."""
    qs = queryset
    if page.max_id is not None:
        qs = qs.filter(**{f"{field}__lt": page.max_id})
    if page.since_id is not None:
        qs = qs.filter(**{f"{field}__gt": page.since_id})
    if page.min_id is not None:
        qs = qs.filter(**{f"{field}__gt": page.min_id})
        return list(reversed(list(qs.order_by(field)[: page.limit])))
    return list(qs.order_by(f"-{field}")[: page.limit])


def link_header(
    request: HttpRequest,
    items: Sequence[Any],
    *,
    key: Callable[[Any], Any] = lambda item: item.pk,
    limit: int | None = None,
) -> str:
    """The ``Link`` header for a page of ``items`` (newest first): ``next`` with ``max_id`` of
    the last item, ``prev`` with ``min_id`` of the first; empty when the page is empty.
    Other query parameters (``local``, ``limit``, ``types[]``...) are kept."""
    if not items:
        return ""
    base = request.build_absolute_uri(request.path)
    kept = [(k, v) for k in request.GET for v in request.GET.getlist(k) if k not in {"max_id", "since_id", "min_id"}]
    if limit is not None and not any(k == "limit" for k, _ in kept):
        kept.append(("limit", str(limit)))
    newest, oldest = key(items[0]), key(items[-1])
    nxt = urlencode([*kept, ("max_id", str(oldest))])
    prev = urlencode([*kept, ("min_id", str(newest))])
    return f'<{base}?{nxt}>; rel="next", <{base}?{prev}>; rel="prev"'


def paginate(
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    field: str = "id",
    key: Callable[[Any], Any] | None = None,
    default: int = DEFAULT_LIMIT,
    maximum: int = MAX_LIMIT,
) -> tuple[list[Any], str]:
    """One page of ``queryset`` for this request and its ``Link`` header.

    ``field`` is the integer column pages are cut on (``id`` of the rows returned; for
    followers that is the ``Follow`` id, not the account id, as in Mastodon); ``key`` reads that
    value from a row (default: the ``field`` attribute)."""
    page = page_params(request, default=default, maximum=maximum)
    items = apply(queryset, page, field=field)
    attr = field.replace("__", ".")

    def default_key(item: Any) -> Any:
        value = item
        for part in attr.split("."):
            value = getattr(value, part)
        return value

    return items, link_header(request, items, key=key or default_key)

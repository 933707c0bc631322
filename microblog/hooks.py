"""Post observers for higher layers (``groups``): microblog never imports them, they register
here in ``AppConfig.ready()`` (the same "register upward" rule as ``federation.registry``).

An observer is ``fn(event, post, activity)`` with ``event`` one of ``"created"`` (a local post
was created, or a remote one stored from an inbound ``Create``), ``"updated"`` (edited),
``"deleted"`` (tombstoned) or ``"liked"``/``"unliked"`` (a local member's like or its undo, or
a received ``Like``/``Undo{Like}`` of a post stored here; ``activity`` is that ``Like``/``Undo``);
otherwise ``activity`` is the inbound activity that caused the event, or None for a local
action. Observers run inside the caller's transaction, must be cheap, and schedule slow
work with ``transaction.on_commit``; raising aborts the caller's change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microblog.models import Post

PostObserver = Callable[[str, Post, "dict[str, Any] | None"], None]
BulkObserver = Callable[[list[tuple[Post, "dict[str, Any]"]]], None]
_observers: list[PostObserver] = []
_bulk: dict[PostObserver, BulkObserver] = {}


def register_post_observer(fn: PostObserver) -> PostObserver:
    """Register ``fn(event, post, activity)`` (idempotent on re-import); usable as a decorator."""
    if fn not in _observers:
        _observers.append(fn)
    return fn


def post_event(event: str, post: Post, activity: dict[str, Any] | None = None) -> None:
    """Tell every observer that ``post`` was ``created``/``updated``/``deleted``."""
    for fn in list(_observers):
        fn(event, post, activity)


def register_bulk_observer(observer: PostObserver, bulk: BulkObserver) -> None:
    """Give ``observer`` a bulk variant for many remote posts stored at once by an inbox drain
    (``microblog.inbound_bulk``): ``bulk(pairs)`` must do what ``observer("created", post,
    activity)`` would do for each pair."""
    _bulk[observer] = bulk


def posts_created(pairs: list[tuple[Post, dict[str, Any]]]) -> None:
    """``post_event("created", ...)`` for each of ``pairs`` (remote posts and the activities
    that brought them), through each observer's bulk variant when it has one."""
    if not pairs:
        return
    for fn in list(_observers):
        bulk = _bulk.get(fn)
        if bulk is not None:
            bulk(pairs)
        else:
            for post, activity in pairs:
                fn("created", post, activity)

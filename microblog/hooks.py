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
_observers: list[PostObserver] = []


def register_post_observer(fn: PostObserver) -> PostObserver:
    """Register ``fn(event, post, activity)`` (idempotent on re-import); usable as a decorator."""
    if fn not in _observers:
        _observers.append(fn)
    return fn


def post_event(event: str, post: Post, activity: dict[str, Any] | None = None) -> None:
    """Tell every observer that ``post`` was ``created``/``updated``/``deleted``."""
    for fn in list(_observers):
        fn(event, post, activity)

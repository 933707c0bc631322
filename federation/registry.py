"""Registration points for higher layers (apps register here in ``AppConfig.ready()``).

``federation`` never imports an app; apps plug in:
- inbound handlers keyed by (activity type, object type or ``None`` for any),
- counters for NodeInfo usage and statistics (``localPosts``, ``localComments``, ...),
- collection providers for an actor's collections (``featured``: pinned posts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federation.models import Actor

Handler = Callable[[dict[str, Any], Actor], None]
Counter = Callable[[], int]

_handlers: dict[tuple[str, str | None], Handler] = {}
_counters: dict[str, Counter] = {}
Collection = Callable[[Actor], list[Any]]
_collections: dict[str, Collection] = {}


def register_handler(activity_type: str, object_type: str | None = None) -> Callable[[Handler], Handler]:
    """Decorator: ``handler(activity, actor)`` processes ``activity_type`` whose object has
    ``object_type`` (``None`` = any object). A later registration for the same key replaces the
    earlier one (the app registered last wins, in INSTALLED_APPS order)."""

    def wrap(fn: Handler) -> Handler:
        _handlers[(activity_type, object_type)] = fn
        return fn

    return wrap


def handler_for(activity_type: str, object_type: str | None) -> Handler | None:
    """The handler for this pair: exact object type first, then the any-object handler."""
    return _handlers.get((activity_type, object_type)) or _handlers.get((activity_type, None))


def handled_types() -> frozenset[str]:
    """Activity types some handler processes: the dispatch allow-list."""
    return frozenset(key[0] for key in _handlers)


def register_counter(name: str, fn: Counter) -> None:
    """Register a usage counter (e.g. ``localPosts``) for NodeInfo and statistics reports."""
    _counters[name] = fn


def count(name: str) -> int:
    """Value of a registered counter, 0 when no app provides it."""
    fn = _counters.get(name)
    return int(fn()) if fn else 0


def register_collection(name: str, fn: Collection) -> None:
    """Register ``fn(actor) -> items`` (ids or embedded objects) filling a local actor's
    collection ``name`` (e.g. ``featured``); the last registration wins."""
    _collections[name] = fn


def collection_items(name: str, actor: Actor) -> list[Any]:
    """Items of a local actor's collection ``name``; empty when no app provides it."""
    fn = _collections.get(name)
    return list(fn(actor)) if fn else []

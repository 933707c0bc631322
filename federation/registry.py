"""Registration points for higher layers (apps register here in ``AppConfig.ready()``).

``federation`` never imports an app; apps plug in:
- inbound handlers keyed by (activity type, object type or ``None`` for any), and bulk
  variants of them for inbox drains,
- counters for NodeInfo usage and statistics (``localPosts``, ``localComments``, ...),
- collection providers for an actor's collections (``featured``: pinned posts).
"""

from __future__ import annotations

import logging
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


# Batch handlers: ``batch(entries) -> list[bool]`` takes ``(activity, actor)`` pairs that
# ``handler`` would process one by one and processes, in the drain's one transaction, those it
# can do in bulk with the same outcome, returning True for each entry it finished (stored or
# dropped exactly as ``handler`` would) and False for each one ``handler`` must still process on
# its own. It is tied to the handler function itself, so a later registration that replaces or
# wraps the handler (the hub's) turns the bulk path off for that key.
BatchHandler = Callable[[list[tuple[dict[str, Any], Actor]]], list[bool]]
_batch_handlers: dict[Handler, BatchHandler] = {}


def register_batch_handler(handler: Handler, batch: BatchHandler) -> None:
    """Let inbox drains run ``batch`` for several activities ``handler`` would process."""
    _batch_handlers[handler] = batch


def batch_handler_for(handler: Handler) -> BatchHandler | None:
    """The bulk variant registered for ``handler``, if any."""
    return _batch_handlers.get(handler)


def fetches_first(handler: Handler) -> Handler:
    """Mark ``handler`` as running outside the inbox worker's transaction: it does its HTTP
    fetches first and its writes in its own ``transaction.atomic()``, and must be idempotent
    (the item is marked processed after it returns). On SQLite a transaction holds the
    database's one write lock from its start; held across a fetch from a node that is itself
    fetching from us, it stalls both nodes until a timeout."""
    handler.fetches_first = True  # type: ignore[attr-defined]
    return handler


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


# Followers-collection policies (groups: a members-only group does not list its members to the
# public). A policy ``fn(actor, request) -> bool`` says whether ``request`` may see the items of
# a local actor's followers collection; everyone always sees ``totalItems``.
FollowersPolicy = Callable[[Actor, Any], bool]
_followers_policies: list[FollowersPolicy] = []


def register_followers_policy(fn: FollowersPolicy) -> FollowersPolicy:
    """Register ``fn(actor, request) -> bool`` (idempotent on re-import)."""
    if fn not in _followers_policies:
        _followers_policies.append(fn)
    return fn


def followers_listed(actor: Actor, request: Any) -> bool:
    """True unless a registered policy hides ``actor``'s followers from ``request``."""
    return all(fn(actor, request) for fn in list(_followers_policies))


# Follow observers (groups mirror follows of Group actors into memberships). Events:
# "requested" (a pending follow of a local locked actor), "accepted", "rejected" (before the row
# is deleted) and "undone" (before the row is deleted). Observers run inside the caller's
# transaction; raising aborts the follow change.
FollowObserver = Callable[[str, Any], None]
_follow_observers: list[FollowObserver] = []
# Extra fields merged into a local actor's AS2 document (e.g. a Group's moderators collection).
ActorExtras = Callable[[Actor], dict[str, Any]]
_actor_extras: list[ActorExtras] = []


def register_follow_observer(fn: FollowObserver) -> FollowObserver:
    """Register ``fn(event, follow)``, called on every follow state change (idempotent on re-import)."""
    if fn not in _follow_observers:
        _follow_observers.append(fn)
    return fn


def notify_follow(event: str, follow: Any) -> None:
    """Tell every follow observer that ``follow`` changed (``requested``/``accepted``/``rejected``/``undone``)."""
    for fn in list(_follow_observers):
        fn(event, follow)


def register_actor_extras(fn: ActorExtras) -> ActorExtras:
    """Register ``fn(actor) -> dict`` whose fields are merged into local actors' AS2 documents."""
    if fn not in _actor_extras:
        _actor_extras.append(fn)
    return fn


def actor_extras(actor: Actor) -> dict[str, Any]:
    """Fields apps add to ``actor``'s document (later registrations win on conflicts)."""
    extra: dict[str, Any] = {}
    for fn in list(_actor_extras):
        extra.update(fn(actor) or {})
    return extra


# Publish observers (the hub's relay forwards public activities to the parent). Called after the
# publishing transaction commits, once per newly stored public activity, with the OutboxActivity row.
PublishObserver = Callable[[Any], None]
_publish_observers: list[PublishObserver] = []


def register_publish_observer(fn: PublishObserver) -> PublishObserver:
    """Register ``fn(outbox_activity)``, called after commit for every newly published public activity
    (idempotent on re-import). An observer's exception is logged, never raised to the publisher."""
    if fn not in _publish_observers:
        _publish_observers.append(fn)
    return fn


def has_publish_observers() -> bool:
    """True when some app watches published activities."""
    return bool(_publish_observers)


def notify_published(outbox: Any) -> None:
    """Call every publish observer with ``outbox`` (errors are logged and swallowed)."""
    for fn in list(_publish_observers):
        try:
            fn(outbox)
        except Exception:
            logging.getLogger(__name__).exception("publish observer %r failed", fn)

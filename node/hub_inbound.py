"""The relay and the hierarchy, inbound side.

- A follow observer mirrors follows of/by our instance actor into :class:`NodeRelation` rows
  (a remote instance actor following ours asks to be our child; our follow of the parent's).
- ``Follow{as:Public}`` from a plain ActivityPub server's instance actor subscribes it to the
  relay (Mastodon's relay convention), ``Undo`` of it unsubscribes.
- ``Announce`` from a child (or, re-broadcast, from our parent) is a relayed object: used as
  embedded when it is on the relaying node's own host (its origin, which signed the request),
  else fetched from its origin (an embedded copy from another host is never trusted), stored once (a post
  through microblog; an event, a course... through the app handler registered for
  ``Create{<its type>}``, as if its origin had sent it), and passed on by :mod:`node.hub_relay`.
  From anyone else the app handlers registered before us run unchanged.
- Public ``Create``/``Update``/``Delete`` sent by a child node's instance actor itself (course
  publications) are handled by the app as before and then passed on upward the same way, so
  they reach the province through every prefecture.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from federation import registry
from federation.actors import INSTANCE_ACTOR_USERNAME, get_instance_actor
from federation.fetch import FetchError
from federation.hosts import host_of
from federation.inbound import DISPATCHED_TYPES, Reject, same_origin
from federation.models import Actor, Follow
from federation.resolve import ResolveError, get_or_fetch_actor
from federation.vocab import PUBLIC_FORMS, id_of, ids_of, type_of
from learning.sharing_ap import COURSE_TYPES
from microblog import effects as microblog_effects
from microblog import tasks as microblog_tasks
from microblog.activitypub import RemotePostError, ap_to_post
from microblog.models import Post
from microblog.services import tombstone
from node import hub, hub_relay
from node.models import NodeRelation, RelationDirection, RelationKind, RelationState, RelayedObject

log = logging.getLogger(__name__)

POST_TYPES = ("Note", "Page", "Article", "Question")
WRAPPED_ANNOUNCE_OBJECTS = (None, "Note", "Page", "Article", "Question", "Event", "Create", "Update", "Delete")
# Objects published by a node's instance actor itself (not by a member or group): received from a
# child, they are passed on upward after the app stored them.
INSTANCE_PUBLISHED_TYPES = tuple(sorted(COURSE_TYPES))
# App handlers (as registered before the hub wrapped them) that store a relayed non-post object.
_storers: dict[tuple[str, str], registry.Handler] = {}


def _is_instance_actor(actor: Actor) -> bool:
    return actor.local and actor.username == INSTANCE_ACTOR_USERNAME


# ---------------------------------------------------------------- follow observer


def on_follow(event: str, row: Follow) -> None:
    """Keep node relations in step with follows of/by our instance actor."""
    follower, target = row.follower, row.target
    if _is_instance_actor(target) and not follower.local:
        if event == "requested":
            hub.record_child_request(row)
            return
        rel = NodeRelation.objects.filter(actor=follower, direction=RelationDirection.CHILD).first()
        if rel is None:
            if event == "accepted":  # accepted in the admin before any relation existed
                rel = hub.record_child_request(row)
            if rel is None:
                return
        state = {
            "accepted": RelationState.ACCEPTED,
            "rejected": RelationState.REJECTED,
            "undone": RelationState.LEFT,
        }.get(event)
        if state and rel.state != state:
            rel.state, rel.state_changed_at = state, timezone.now()
            if state == RelationState.ACCEPTED:
                rel.since = timezone.now()
            rel.save(update_fields=["state", "state_changed_at", "since"])
    elif _is_instance_actor(follower) and not target.local:
        rel = NodeRelation.objects.filter(actor=target, direction=RelationDirection.PARENT).first()
        if rel is None:
            return
        now = timezone.now()
        if event == "accepted" and rel.state == RelationState.PENDING:
            rel.state, rel.state_changed_at, rel.since = RelationState.ACCEPTED, now, now
        elif event == "rejected":
            rel.state, rel.state_changed_at = RelationState.REJECTED, now
        elif event == "undone" and rel.state != RelationState.LEFT:
            rel.state, rel.state_changed_at = RelationState.LEFT, now
        else:
            return
        rel.save(update_fields=["state", "state_changed_at", "since"])


# ---------------------------------------------------------------- Mastodon-style relay subscriptions


def _follows_public(obj: Any) -> bool:
    return id_of(obj) in PUBLIC_FORMS


def subscribe_relay(activity: dict[str, Any], actor: Actor) -> NodeRelation:
    """A plain server's instance actor follows the public collection: a relay subscriber,
    accepted at once when allowed (devnet, ``NODE_HUB_ALLOW``), else pending for the operator."""
    rel, _ = NodeRelation.objects.get_or_create(
        actor=actor,
        direction=RelationDirection.CHILD,
        defaults={"domain": actor.domain, "kind": RelationKind.RELAY, "base_url": hub._base_url_of(actor)},
    )
    rel.kind, rel.follow_ap_id = RelationKind.RELAY, str(activity["id"])[:500]
    now = timezone.now()
    if rel.state == RelationState.ACCEPTED or hub.auto_approves(actor.domain):
        if rel.state != RelationState.ACCEPTED:
            rel.since = now
        rel.state, rel.state_changed_at = RelationState.ACCEPTED, now
        rel.save()
        hub.send_relay_accept(rel)  # again when already accepted: the subscriber may have lost it
    else:
        rel.state, rel.state_changed_at = RelationState.PENDING, now
        rel.save()
    return rel


def _wrap_follow(previous: registry.Handler | None) -> registry.Handler:
    def handle_follow(activity: dict[str, Any], actor: Actor) -> None:
        """``Follow{Public}`` subscribes to the relay; any other follow goes to federation."""
        if _follows_public(activity.get("object")):
            subscribe_relay(activity, actor)
            return
        if previous is None:
            raise Reject("no follow handler")
        previous(activity, actor)

    return handle_follow


def _wrap_undo_follow(previous: registry.Handler | None) -> registry.Handler:
    def handle_undo_follow(activity: dict[str, Any], actor: Actor) -> None:
        """``Undo{Follow{Public}}`` ends a relay subscription; other undos go to federation."""
        inner = activity.get("object")
        if isinstance(inner, dict) and _follows_public(inner.get("object")):
            if id_of(inner.get("actor")) not in (None, actor.ap_id):
                raise Reject("only the follower may undo a follow")
            NodeRelation.objects.filter(actor=actor, direction=RelationDirection.CHILD).update(
                state=RelationState.LEFT, state_changed_at=timezone.now()
            )
            return
        if previous is not None:
            previous(activity, actor)

    return handle_undo_follow


# ---------------------------------------------------------------- relayed objects


def relay_source(actor: Actor) -> NodeRelation | None:
    """The accepted relation that makes ``actor``'s Announces relayed content: a Redcloud child,
    or our parent (re-broadcasting)."""
    return (
        NodeRelation.objects.filter(actor=actor, state=RelationState.ACCEPTED, kind=RelationKind.NODE)
        .order_by("direction")
        .first()
    )


def _owner_of(doc: dict[str, Any]) -> Actor:
    """The actor a fetched document is attributed to (a post's author, an event's group, a
    course's publishing instance actor); it must be on the document's own host."""
    owners = [o for o in ids_of(doc.get("attributedTo")) if o not in PUBLIC_FORMS]
    try:
        if not owners or host_of(owners[0]) != host_of(str(doc["id"])):
            raise Reject("relayed object is attributed to another host")
        return get_or_fetch_actor(owners[0])
    except (ValueError, ResolveError) as exc:
        raise Reject(f"relayed object's author unavailable: {exc}") from exc


def _store_post(doc: dict[str, Any], author: Actor) -> Post | None:
    """Store a post document fetched from its origin, by its ``author`` (see :func:`_owner_of`)."""
    existed = Post.objects.filter(ap_id=doc["id"]).exists()
    try:
        post = ap_to_post(doc, actor=author)
    except RemotePostError as exc:
        raise Reject(f"relayed object refused: {exc}") from exc
    if not existed and microblog_effects.may_notify(post):
        pk = post.pk
        transaction.on_commit(lambda: microblog_tasks.surface_post.delay(pk))
    return post


def _embedded_from_origin(activity: dict[str, Any], actor: Actor) -> dict[str, Any] | None:
    """The relayed object embedded in ``activity`` when the relaying node is its origin (its
    id on the signing actor's host: the trust rule of every ``Create``), so no fetch is needed;
    ``None`` when it must be fetched (a bare id, or a copy of another node's object)."""
    obj = activity.get("object")
    if isinstance(obj, dict) and type_of(obj) not in DISPATCHED_TYPES and same_origin(id_of(obj), actor):
        return obj
    return None


def handle_relayed(activity: dict[str, Any], actor: Actor, rel: NodeRelation) -> RelayedObject | None:
    """A relayed ``Announce{object}`` from a child (or our parent): take the object as embedded
    when the relaying node is its origin, else fetch it from its origin; store it (deduplicated
    by id and version), tombstone it when the origin says it is gone, and pass it on. Returns the
    row, or ``None`` for a duplicate or our own object."""
    object_id = id_of(activity.get("object"))
    if not object_id or not same_origin(str(activity.get("id") or ""), actor):
        raise Reject("a relay Announce needs an object and an id on the relay's host")
    try:
        origin = host_of(object_id)
    except ValueError as exc:
        raise Reject("relayed object id has no host") from exc
    if origin == host_of(str(get_instance_actor().ap_id)):
        return None  # our own content came back round
    deleted, doc = False, _embedded_from_origin(activity, actor)
    if doc is None:
        try:
            doc = hub.fetch_from_origin(object_id)
        except FetchError as exc:
            if exc.retryable:
                raise
            if exc.status not in (404, 410):
                raise Reject(f"relayed object unavailable: {exc.reason}") from exc
            deleted = True
    if doc is not None and not _public_doc(doc):
        raise Reject("relayed object is not public at its origin")
    # Every fetch happens before the transaction (``registry.fetches_first``): a database write
    # lock held across HTTP (SQLite) can stall two nodes fetching from each other.
    owner = _owner_of(doc) if doc is not None and _stored_here(doc) else None
    with transaction.atomic():
        return _store_relayed(activity, actor, rel, object_id, origin, doc, owner, deleted=deleted)


def _store_relayed(
    activity: dict[str, Any],
    actor: Actor,
    rel: NodeRelation,
    object_id: str,
    origin: str,
    doc: dict[str, Any] | None,
    owner: Actor | None,
    *,
    deleted: bool,
) -> RelayedObject | None:
    """The writes of :func:`handle_relayed`, in its transaction."""
    NodeRelation.objects.filter(pk=rel.pk).update(last_seen_at=timezone.now())
    version = "deleted" if deleted else _doc_version(doc or {})
    row, created = RelayedObject.objects.get_or_create(
        object_ap_id=object_id,
        defaults={"origin_domain": origin, "via": rel, "object_type": str(type_of(doc) or "")[:32]},
    )
    if not created and row.version == version and row.deleted == deleted:
        return None  # relayed twice (several paths, or a replay): already stored and passed on
    if deleted:
        post = Post.objects.select_for_update().filter(ap_id=object_id, local=False).first()
        if post is not None and post.deleted_at is None:
            tombstone(post)
        _withdraw_other(object_id, row.object_type, origin)
    elif doc is not None and owner is not None:
        if type_of(doc) in POST_TYPES:
            _store_post(doc, owner)
        else:
            _store_other(doc, owner, update=not created)
    row.version, row.deleted = version, deleted
    row.save(update_fields=["version", "deleted"])
    upward = rel.direction == RelationDirection.CHILD
    transaction.on_commit(lambda: hub_relay.relay(object_id, version, upward=upward, exclude_hosts={actor.domain}))
    return row


def _doc_version(doc: dict[str, Any]) -> str:
    """The version of a fetched document: ``updated`` or ``published``; a digest of the document
    when it has neither (Mobilizon-style events), so a changed event is passed on again."""
    stamp = str(doc.get("updated") or doc.get("published") or "")[:64]
    if stamp:
        return stamp + hub_relay.poll_totals_suffix(doc)  # new poll results are a new version
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _stored_here(doc: dict[str, Any]) -> bool:
    """True when a relayed document of this type is stored here (posts, and the types an app
    handler stores); other types are only passed on."""
    kind = type_of(doc) or ""
    return kind in POST_TYPES or ("Create", kind) in _storers


def _store_other(doc: dict[str, Any], owner: Actor, *, update: bool) -> None:
    """Store a relayed non-post object (an event, a course) with the app handler of
    ``Create``/``Update{<type>}``, as if its ``owner`` (the event's group, the course's
    publishing instance actor) had sent it: the document came from its origin, so it is the
    origin's own word."""
    kind = type_of(doc) or ""
    handler = _storers.get(("Update" if update else "Create", kind)) or _storers.get(("Create", kind))
    if handler is None:
        return
    activity = {
        "id": f"{doc['id']}#relayed",
        "type": "Update" if update else "Create",
        "actor": owner.ap_id,
        "object": doc,
        "to": doc.get("to", []),
        "cc": doc.get("cc", []),
    }
    handler(activity, owner)


def _withdraw_other(object_id: str, kind: str, origin: str) -> None:
    """The origin says a relayed non-post object (a course, an event) is gone: the app handler of
    ``Delete{<type>}`` runs as if the origin had sent it, in the name of the origin's instance
    actor (or, for an origin we know no instance actor of, another of its actors: the handlers
    check only that the deleting actor is on the object's host, and the 404/410 came from there)."""
    handler = _storers.get(("Delete", kind))
    if handler is None:
        return
    candidates = Actor.objects.filter(domain=origin, local=False)
    owner = candidates.filter(username=INSTANCE_ACTOR_USERNAME).first() or candidates.order_by("pk").first()
    if owner is None:
        return
    activity = {"id": f"{object_id}#relayed-delete", "type": "Delete", "actor": owner.ap_id}
    handler({**activity, "object": {"id": object_id, "type": kind}}, owner)


def _public_doc(doc: dict[str, Any]) -> bool:
    """The origin addressed the object to the public collection (``to`` or ``cc``)."""
    return any(t in PUBLIC_FORMS for t in ids_of(doc.get("to")) + ids_of(doc.get("cc")))


def _wrap_announce(previous: registry.Handler | None) -> registry.Handler:
    @registry.fetches_first
    def handle_announce(activity: dict[str, Any], actor: Actor) -> None:
        """Relayed content from a child or our parent; any other Announce as before (in a
        transaction, as the worker would have run it)."""
        rel = relay_source(actor)
        obj = activity.get("object")
        if rel is not None and (not isinstance(obj, dict) or type_of(obj) not in DISPATCHED_TYPES):
            handle_relayed(activity, actor, rel)  # an object (bare id, or embedded), not an activity
            return
        with transaction.atomic():
            if rel is not None:
                hub.touch(actor)
            if previous is not None:
                previous(activity, actor)

    return handle_announce


def _wrap_instance_published(previous: registry.Handler | None) -> registry.Handler:
    def handle_instance_published(activity: dict[str, Any], actor: Actor) -> None:
        """The app handles the activity; when it is a public one of a child node's own instance
        actor (a course publication), it is then passed on upward, once."""
        if previous is None:
            raise Reject("no handler for this object")
        previous(activity, actor)
        rel = relay_source(actor)
        if rel is None or rel.direction != RelationDirection.CHILD:
            return
        pass_on_upward(activity, actor, rel)

    return handle_instance_published


def pass_on_upward(activity: dict[str, Any], actor: Actor, rel: NodeRelation) -> RelayedObject | None:
    """Pass a public activity a child node's instance actor published itself (already handled
    by the app) on to our parent as a relay ``Announce``; deduplicated by object id and version.
    Returns the row, or ``None`` when it is not public or was passed on already."""
    hub.touch(actor)
    key = hub_relay.relay_key(activity)
    if key is None:
        return None
    object_id, version = key
    if not same_origin(object_id, actor):
        return None  # only a node's own objects
    obj = activity.get("object")
    row, created = RelayedObject.objects.get_or_create(
        object_ap_id=object_id,
        defaults={"origin_domain": actor.domain, "via": rel, "object_type": str(type_of(obj) or "")[:32]},
    )
    deleted = version == "deleted"
    if not created and row.version == version and row.deleted == deleted:
        return None
    row.version, row.deleted = version, deleted
    row.save(update_fields=["version", "deleted"])
    transaction.on_commit(lambda: hub_relay.relay(object_id, version, upward=True, exclude_hosts={actor.domain}))
    return row


def register() -> None:
    """Install the hub's handlers and observers (from ``NodeConfig.ready``; runs once, after
    every lower app registered its own, which the wrappers delegate to)."""
    if getattr(register, "done", False):
        return
    registry.register_follow_observer(on_follow)
    registry.register_publish_observer(hub_relay.on_published)
    registry.register_handler("Follow")(_wrap_follow(registry.handler_for("Follow", None)))
    registry.register_handler("Undo", "Follow")(_wrap_undo_follow(registry.handler_for("Undo", "Follow")))
    for object_type in WRAPPED_ANNOUNCE_OBJECTS:
        previous = registry.handler_for("Announce", object_type)
        registry.register_handler("Announce", object_type)(_wrap_announce(previous))
    for kind, object_types in (
        ("Create", ("Event", *INSTANCE_PUBLISHED_TYPES)),
        ("Update", ("Event", *INSTANCE_PUBLISHED_TYPES)),
        ("Delete", ("Event", *INSTANCE_PUBLISHED_TYPES)),
    ):
        for object_type in object_types:
            handler = registry.handler_for(kind, object_type)
            if handler is not None:
                _storers[(kind, object_type)] = handler
    for kind in ("Create", "Update", "Delete"):
        for object_type in INSTANCE_PUBLISHED_TYPES:
            previous = registry.handler_for(kind, object_type)
            registry.register_handler(kind, object_type)(_wrap_instance_published(previous))
    register.done = True  # type: ignore[attr-defined]

"""The relay, outbound side: public activities of our members and groups go up to the parent
hub (and to relay subscribers) as ``Announce{<original object>}`` by our instance actor, in
the LitePub/Mastodon relay manner; a hub passes relayed objects on the same way. Our own
objects are embedded (the receiver may trust them: they are on the signing sender's host, the
rule for every ``Create``), objects of other nodes go as a bare id (fetched from their origin).

Only activities addressed to the public collection (``to``, of the activity and of an embedded
object) and stored as public in the outbox are relayed: followers-only, direct and group
members-only content never is. The Announce id is derived from (object id, version), so the
author's ``Create`` and its group's ``Announce`` of the same post relay once, and a relay that
arrives twice is passed on once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction

from federation.actors import INSTANCE_ACTOR_USERNAME, get_instance_actor
from federation.hosts import host_of
from federation.models import ActorType, OutboxActivity
from federation.outbox import publish
from federation.vocab import AS_CONTEXT, PUBLIC_FORMS, id_of, ids_of, type_of
from node.hub import children, parent_relation, relay_subscribers
from node.models import RelationKind, RelationState

RELAYED_TYPES = frozenset({"Create", "Update", "Delete", "Announce"})
INNER_ACTIVITIES = frozenset({"Create", "Update", "Delete"})
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
SOURCE_TYPES = (ActorType.PERSON, ActorType.GROUP)


def _addressed_publicly(doc: Any) -> bool:
    """True when ``doc`` (a dict) names the public collection in ``to`` (not only ``cc``:
    unlisted content is not relayed, as Mastodon relays do)."""
    return isinstance(doc, dict) and any(t in PUBLIC_FORMS for t in ids_of(doc.get("to")))


def _version_of(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    stamp = str(obj.get("updated") or obj.get("published") or "")[:64]
    return stamp + poll_totals_suffix(obj) if stamp else ""


def poll_totals_suffix(obj: dict[str, Any]) -> str:
    """For a ``Question``, a short digest of its totals (voters, votes per option, closed):
    new results change neither ``updated`` nor ``published`` (Mastodon's ``Update{Question}``
    neither), yet are a new version to relay and store. Empty for other types."""
    if type_of(obj) != "Question":
        return ""
    options = [*(obj.get("oneOf") or []), *(obj.get("anyOf") or [])]
    counts = [
        (o.get("name"), (o.get("replies") or {}).get("totalItems") if isinstance(o.get("replies"), dict) else None)
        for o in options
        if isinstance(o, dict)
    ]
    totals = json.dumps([obj.get("votersCount"), obj.get("closed"), counts], ensure_ascii=False, default=str)
    return ":poll-" + hashlib.sha256(totals.encode()).hexdigest()[:16]


def relay_object(body: dict[str, Any]) -> dict[str, Any] | None:
    """The object a public ``Create``/``Update`` (or a group's ``Announce`` of one) carries
    embedded, to embed in the relay ``Announce``; ``None`` for a ``Delete`` (receivers confirm
    those at the origin) or a bare id."""
    obj = body.get("object")
    if type_of(body) == "Announce" and isinstance(obj, dict):
        body, obj = obj, obj.get("object")
    if type_of(body) not in ("Create", "Update") or not isinstance(obj, dict):
        return None
    return obj


def relay_key(body: dict[str, Any]) -> tuple[str, str] | None:
    """(original object id, version) to relay for a public activity ``body``, or ``None``
    when it must not be relayed. A ``Delete`` has version ``deleted``."""
    kind = type_of(body)
    if kind not in RELAYED_TYPES or not _addressed_publicly(body):
        return None
    obj = body.get("object")
    if kind == "Announce" and isinstance(obj, dict) and type_of(obj) in INNER_ACTIVITIES:
        if not _addressed_publicly(obj):
            return None
        kind, obj = type_of(obj), obj.get("object")
    elif kind == "Announce" and not isinstance(obj, dict):
        return None  # a boost by bare id: the booster's own business, not relayed content
    if isinstance(obj, dict) and "to" in obj and not _addressed_publicly(obj) and kind != "Delete":
        return None
    object_id = id_of(obj)
    if not object_id:
        return None
    if kind == "Delete":
        return object_id, "deleted"
    version = _version_of(obj)
    if not version and kind == "Update":
        # No ``updated`` (Mobilizon-style events): the activity id tells this version apart.
        version = "activity:" + uuid.uuid5(uuid.NAMESPACE_URL, str(body.get("id") or "")).hex
    return object_id, version


def relay_activity_id(object_id: str, version: str) -> str:
    """The stable id of our relay ``Announce`` of ``object_id`` at ``version``."""
    key = uuid.uuid5(uuid.NAMESPACE_URL, f"redcloud-relay:{object_id}#{version}")
    return f"{settings.NODE_BASE_URL}/activities/{key}"


def announce_to_ap(object_id: str, version: str, obj: dict[str, Any] | None = None) -> dict[str, Any]:
    """Our instance actor's relay ``Announce`` of ``object_id``: the object embedded when ``obj``
    is given (only for objects of this node: a receiver trusts an embedded copy only when it is
    on the sender's host), else the bare id, which receivers fetch from its origin."""
    me = get_instance_actor()
    embedded = None
    if obj is not None and id_of(obj) == object_id and _hosts_of(object_id) == _hosts_of(me.ap_id):
        embedded = {k: v for k, v in obj.items() if k != "@context"}
    return {
        "@context": AS_CONTEXT,
        "id": relay_activity_id(object_id, version),
        "type": "Announce",
        "actor": me.ap_id,
        "object": embedded or object_id,
        "to": [PUBLIC],
        "cc": [me.followers_url],
    }


def _hosts_of(url: str) -> str:
    try:
        return host_of(url)
    except ValueError:
        return ""


def relay_inboxes(*, upward: bool, exclude_hosts: set[str]) -> list[str]:
    """Inboxes a relayed object goes to: the accepted parent (when ``upward``), relay
    subscribers, and, with ``NODE_HUB_REBROADCAST``, our Redcloud children; never a host in
    ``exclude_hosts`` (where it came from, where it originated)."""
    inboxes: list[str] = []
    parent = parent_relation()
    if upward and parent is not None and parent.state == RelationState.ACCEPTED:
        inboxes.append(parent.actor.delivery_inbox)
    inboxes.extend(rel.actor.delivery_inbox for rel in relay_subscribers())
    if getattr(settings, "NODE_HUB_REBROADCAST", False):
        inboxes.extend(rel.actor.delivery_inbox for rel in children().filter(kind=RelationKind.NODE))
    out = [url for url in dict.fromkeys(inboxes) if url and _hosts_of(url) not in exclude_hosts]
    return out


def relay(
    object_id: str,
    version: str,
    *,
    upward: bool = True,
    exclude_hosts: set[str] | None = None,
    obj: dict[str, Any] | None = None,
) -> OutboxActivity | None:
    """Publish the relay ``Announce`` of ``object_id`` at ``version`` to the relay targets (with
    ``obj`` embedded when it is ours: :func:`announce_to_ap`). Idempotent (stable id); ``None``
    when there is nobody to relay to."""
    excluded = set(exclude_hosts or set())
    excluded.add(_hosts_of(object_id))
    inboxes = relay_inboxes(upward=upward, exclude_hosts=excluded)
    if not inboxes:
        return None
    activity = announce_to_ap(object_id, version, obj)
    with transaction.atomic():
        return publish(activity, actor=get_instance_actor(), inboxes=inboxes, object_ap_id=object_id, public=True)


def on_published(outbox: OutboxActivity) -> None:
    """Publish observer: relay a public activity of a local member or group (never one of our
    instance actor's own, which would loop)."""
    if not outbox.public or outbox.type not in RELAYED_TYPES:
        return
    actor = outbox.actor
    if not actor.local or actor.username == INSTANCE_ACTOR_USERNAME or actor.type not in SOURCE_TYPES:
        return
    key = relay_key(outbox.body if isinstance(outbox.body, dict) else {})
    if key is None:
        return
    object_id, version = key
    if _hosts_of(object_id) != _hosts_of(str(settings.NODE_BASE_URL)):
        return  # a group announcing a remote member's post: the origin's node relays it
    relay(object_id, version, obj=relay_object(outbox.body))

"""The node hierarchy: joining a parent hub, accepting children, leaving, and the cycle rule.

A child's instance actor ``Follow``s its parent's instance actor; the parent accepts (at once on
a devnet or for a domain in ``NODE_HUB_ALLOW``, else when its operator approves) and both sides
keep a :class:`~node.models.NodeRelation`. The follow rows themselves live in
``federation.follows``; this module mirrors them into relations through a follow observer, so
the follow machinery (Accept, Reject, Undo, retries) stays in one place.

Public read API (used by the relay, statistics, health and hub views):
``parent_relation()``, ``children()``, ``relay_subscribers()``, ``ancestors()``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from federation import follows
from federation.actors import INSTANCE_ACTOR_USERNAME, get_instance_actor
from federation.fetch import FetchError, actor_url_from_jrd, fetch_document, webfinger
from federation.follows import new_activity_id
from federation.hosts import host_of, normalise_host
from federation.models import Actor, Follow, FollowState
from federation.outbox import publish
from federation.resolve import ResolveError, get_or_fetch_actor, instance_signer
from federation.software import read_nodeinfo
from federation.vocab import AS_CONTEXT, PUBLIC
from node.models import NodeRelation, RelationDirection, RelationKind, RelationState

log = logging.getLogger(__name__)

LIVE = (RelationState.PENDING, RelationState.ACCEPTED)
MAX_ANCESTORS = 8


class HubError(Exception):
    """A hierarchy action that cannot be done (no parent configured, cycle, second parent...)."""


# ---------------------------------------------------------------- read API


def parent_relation() -> NodeRelation | None:
    """Our relation to the parent hub when one is pending or accepted, else ``None``."""
    return (
        NodeRelation.objects.filter(direction=RelationDirection.PARENT, state__in=LIVE)
        .select_related("actor")
        .order_by("-state_changed_at")
        .first()
    )


def children(*, include_relays: bool = True) -> QuerySet[NodeRelation]:
    """Accepted children (Redcloud nodes and, unless ``include_relays`` is off, plain relay
    subscribers), with their instance actors, ordered by domain."""
    qs = NodeRelation.objects.filter(direction=RelationDirection.CHILD, state=RelationState.ACCEPTED)
    if not include_relays:
        qs = qs.filter(kind=RelationKind.NODE)
    return qs.select_related("actor").order_by("domain")


def pending_children() -> QuerySet[NodeRelation]:
    """Children waiting for the operator's approval."""
    return NodeRelation.objects.filter(direction=RelationDirection.CHILD, state=RelationState.PENDING).select_related(
        "actor"
    )


def relay_subscribers() -> QuerySet[NodeRelation]:
    """Accepted children that are plain relay subscribers (Mastodon/Pleroma relay convention)."""
    return children().filter(kind=RelationKind.RELAY)


def relation_for(actor: Actor, direction: str | None = None) -> NodeRelation | None:
    """The live (pending/accepted) relation with ``actor`` in ``direction`` (either when ``None``)."""
    qs = NodeRelation.objects.filter(actor=actor, state__in=LIVE)
    if direction:
        qs = qs.filter(direction=direction)
    return qs.first()


def ancestors() -> list[str]:
    """Hosts above this node, nearest first: our parent, then the parent's own ancestors as it
    reported them when we joined."""
    rel = parent_relation()
    if rel is None:
        return []
    return [rel.domain, *[str(h) for h in rel.ancestors if isinstance(h, str)]][:MAX_ANCESTORS]


def touch(actor: Actor) -> None:
    """Record that an activity from ``actor``'s node just arrived (``last_seen_at``)."""
    NodeRelation.objects.filter(actor=actor, state__in=LIVE).update(last_seen_at=timezone.now())


# ---------------------------------------------------------------- discovery


def _host_of_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HubError(f"{base_url!r} is not an http(s) URL")
    return normalise_host(parts.netloc)


def discover_instance_actor(base_url: str) -> Actor:
    """The instance actor of the node at ``base_url``, found by WebFinger
    (``acct:instance.actor@<host>``) and fetched (signed) from its origin. Raises HubError."""
    host = _host_of_base(base_url)
    try:
        url = actor_url_from_jrd(webfinger(f"{INSTANCE_ACTOR_USERNAME}@{host}"))
        if host_of(url) != host:
            raise HubError(f"the instance actor of {host} is on another host ({url})")
        return get_or_fetch_actor(url)
    except FetchError as exc:
        raise HubError(f"cannot find the instance actor of {base_url}: {exc}") from exc
    except ResolveError as exc:
        raise HubError(f"cannot fetch the instance actor of {base_url}: {exc.reason}") from exc


def node_metadata(base_url: str) -> dict[str, Any]:
    """NodeInfo facts of the node at ``base_url`` (software, version, name, role, region,
    parent); an empty dict when it has no NodeInfo (a plain ActivityPub server) or cannot be
    reached. Only documents on ``base_url``'s own host are read."""
    _host_of_base(base_url)  # a base URL without a host is refused as before (HubError)
    doc = read_nodeinfo(base_url)
    if not doc:
        return {}
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    software = doc.get("software") if isinstance(doc.get("software"), dict) else {}
    return {
        "software": str(software.get("name") or "")[:50],
        "version": str(software.get("version") or "")[:50],
        "name": str(meta.get("nodeName") or "")[:200],
        "role": str(meta.get("nodeRole") or "")[:16],
        "region": str(meta.get("regionCode") or "")[:6],
        "parent": str(meta.get("parent") or "")[:500],
    }


def ancestor_chain(parent_url: str) -> list[str]:
    """Hosts above the node at ``base_url`` of its parent ``parent_url``: that parent's host, its
    parent's, ... followed through each node's NodeInfo ``parent`` (at most MAX_ANCESTORS hops,
    stopping at a repeat)."""
    chain: list[str] = []
    url = parent_url
    while url and len(chain) < MAX_ANCESTORS:
        try:
            host = _host_of_base(url)
        except (HubError, ValueError):
            break
        if host in chain:
            break
        chain.append(host)
        url = node_metadata(url).get("parent", "")
    return chain


def _apply_metadata(rel: NodeRelation, meta: dict[str, Any]) -> None:
    rel.node_name = meta.get("name", "") or rel.node_name
    rel.node_role = meta.get("role", "") or rel.node_role
    rel.region_code = meta.get("region", "") or rel.region_code
    rel.software_version = meta.get("version", "") or rel.software_version
    rel.parent_url = meta.get("parent", "") or ""


def _base_url_of(actor: Actor) -> str:
    parts = urlsplit(actor.ap_id)
    return f"{parts.scheme}://{parts.netloc}"


# ---------------------------------------------------------------- joining and leaving (child side)


def join_hub(parent_url: str | None = None) -> NodeRelation:
    """Ask the parent hub (``settings.NODE_PARENT`` unless given) to take this node as a child:
    our instance actor follows its instance actor. Idempotent: running it again re-sends a
    pending request and changes nothing once accepted. Raises HubError when no parent is set,
    when another parent is already joined, or when the parent is one of our own children."""
    parent_url = (parent_url or str(getattr(settings, "NODE_PARENT", "") or "")).rstrip("/")
    if not parent_url:
        raise HubError("NODE_PARENT is not set: this node has no parent hub.")
    if _host_of_base(parent_url) == normalise_host(str(settings.NODE_DOMAIN)):
        raise HubError("a node cannot be its own parent")
    target = discover_instance_actor(parent_url)
    current = parent_relation()
    if current is not None and current.actor_id != target.pk:
        raise HubError(f"this node already has a parent ({current.domain}); run `node leave-hub` first")
    if relation_for(target, RelationDirection.CHILD) is not None:
        raise HubError(f"{target.domain} is a child of this node; joining it would make a cycle")
    meta = node_metadata(parent_url)
    me = get_instance_actor()
    with transaction.atomic():
        rel, _ = NodeRelation.objects.select_for_update().get_or_create(
            actor=target,
            direction=RelationDirection.PARENT,
            defaults={"domain": target.domain, "base_url": parent_url},
        )
        _apply_metadata(rel, meta)
        rel.ancestors = ancestor_chain(rel.parent_url) if rel.parent_url else []
        if normalise_host(str(settings.NODE_DOMAIN)) in rel.ancestors:
            raise HubError(f"{target.domain} is below this node; joining it would make a cycle")
        rel.base_url = parent_url
        follow_row = follows.follow(me, target)
        rel.follow_ap_id = follow_row.ap_id
        accepted = follow_row.state == FollowState.ACCEPTED
        new_state = RelationState.ACCEPTED if accepted else RelationState.PENDING
        if rel.state != new_state:
            rel.state, rel.state_changed_at = new_state, timezone.now()
            if accepted:
                rel.since = timezone.now()
        rel.save()
    return rel


def leave_hub() -> NodeRelation | None:
    """Leave the parent hub: ``Undo{Follow}`` to it; the relation is kept as ``left``. Returns
    the relation, or ``None`` when there was no parent (harmless)."""
    rel = parent_relation()
    if rel is None:
        return None
    with transaction.atomic():
        follows.unfollow(get_instance_actor(), rel.actor)
        rel.state, rel.state_changed_at = RelationState.LEFT, timezone.now()
        rel.save(update_fields=["state", "state_changed_at"])
    return rel


# ---------------------------------------------------------------- children (parent side)


def auto_approves(domain: str) -> bool:
    """True when a child at ``domain`` is accepted without the operator: on a devnet, or when
    the domain (or a parent domain of it) is in ``NODE_HUB_ALLOW``."""
    if getattr(settings, "NODE_DEVNET", False):
        return True
    host = normalise_host(domain)
    for allowed in getattr(settings, "NODE_HUB_ALLOW", ()) or ():
        allowed = normalise_host(str(allowed))
        if host == allowed or host.endswith("." + allowed):
            return True
    return False


def would_cycle(actor: Actor) -> bool:
    """True when taking ``actor``'s node as a child would make a cycle: it is our parent or one
    of our ancestors (the relation table, and the chain our parent's NodeInfo reported)."""
    if NodeRelation.objects.filter(actor=actor, direction=RelationDirection.PARENT, state__in=LIVE).exists():
        return True
    host = normalise_host(actor.domain)
    return host in {normalise_host(h) for h in ancestors()}


def record_child_request(row: Follow, *, kind: str = RelationKind.NODE) -> NodeRelation | None:
    """A remote instance actor asks to become our child (its follow of our instance actor is
    pending): record the relation, refuse a cycle (the follow is rejected), auto-approve when
    allowed. Returns the relation (``None`` when refused)."""
    actor = row.follower
    if would_cycle(actor):
        log.warning("refusing %s as a child: it is our parent or an ancestor", actor.domain)
        NodeRelation.objects.update_or_create(
            actor=actor,
            direction=RelationDirection.CHILD,
            defaults={"state": RelationState.REJECTED, "state_changed_at": timezone.now(), "domain": actor.domain},
        )
        transaction.on_commit(lambda: _reject_later(row.pk))
        return None
    meta = node_metadata(_base_url_of(actor))
    if meta and meta.get("software") != "redcloud":
        kind = RelationKind.RELAY  # e.g. Pleroma's relay actor following ours: a relay subscriber
    rel, _ = NodeRelation.objects.get_or_create(
        actor=actor,
        direction=RelationDirection.CHILD,
        defaults={"domain": actor.domain, "base_url": _base_url_of(actor), "kind": kind},
    )
    _apply_metadata(rel, meta)
    rel.follow_ap_id = row.ap_id
    rel.kind = kind
    if rel.state != RelationState.ACCEPTED:
        rel.state, rel.state_changed_at = RelationState.PENDING, timezone.now()
    rel.save()
    if auto_approves(actor.domain) and rel.state == RelationState.PENDING:
        transaction.on_commit(lambda: _approve_later(rel.pk))
    return rel


def _approve_later(pk: int) -> None:
    rel = NodeRelation.objects.filter(pk=pk).select_related("actor").first()
    if rel is not None and rel.state == RelationState.PENDING:
        approve_child(rel)


def _reject_later(follow_pk: int) -> None:
    row = Follow.objects.filter(pk=follow_pk).select_related("follower", "target").first()
    if row is not None:
        follows.reject_follow(row)


def find_child(domain: str) -> NodeRelation | None:
    """The child relation (any state but left) of the node at ``domain``."""
    host = normalise_host(domain)
    return (
        NodeRelation.objects.filter(direction=RelationDirection.CHILD, domain=host)
        .exclude(state=RelationState.LEFT)
        .select_related("actor")
        .first()
    )


def approve_child(rel: NodeRelation) -> NodeRelation:
    """Accept a pending child: its follow of our instance actor is accepted (``Accept`` sent)
    and the relation becomes ``accepted``. Approving an accepted child again changes nothing.
    Raises HubError when there is no follow to accept or it would make a cycle."""
    if rel.state == RelationState.ACCEPTED:
        return rel
    if would_cycle(rel.actor):
        raise HubError(f"{rel.domain} is our parent or an ancestor; it cannot be our child")
    me = get_instance_actor()
    row = Follow.objects.filter(follower=rel.actor, target=me).select_related("follower", "target").first()
    if row is None and rel.kind != RelationKind.RELAY:  # relay subscribers follow as:Public: no row
        raise HubError(f"{rel.domain} has no pending follow to accept")
    with transaction.atomic():
        rel.state, rel.state_changed_at, rel.since = RelationState.ACCEPTED, timezone.now(), timezone.now()
        rel.save(update_fields=["state", "state_changed_at", "since"])
        if row is not None and row.state != FollowState.ACCEPTED:
            follows.accept_follow(row)
        elif row is None:
            send_relay_accept(rel)
    return rel


def reject_child(rel: NodeRelation) -> NodeRelation:
    """Refuse (or remove) a child: its follow is rejected and the relation marked ``rejected``."""
    me = get_instance_actor()
    with transaction.atomic():
        row = Follow.objects.filter(follower=rel.actor, target=me).select_related("follower", "target").first()
        rel.state, rel.state_changed_at = RelationState.REJECTED, timezone.now()
        rel.save(update_fields=["state", "state_changed_at"])
        if row is not None:
            follows.reject_follow(row)
    return rel


def send_relay_accept(rel: NodeRelation) -> None:
    """``Accept`` a relay subscriber's ``Follow{Public}`` (Mastodon waits for it before sending
    anything to the relay)."""
    me = get_instance_actor()
    activity = {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": "Accept",
        "actor": me.ap_id,
        "object": {"id": rel.follow_ap_id, "type": "Follow", "actor": rel.actor.ap_id, "object": PUBLIC},
        "to": [rel.actor.ap_id],
    }
    publish(activity, actor=me, inboxes=[rel.actor.inbox_url], object_ap_id=rel.follow_ap_id)


def signer() -> Any:
    """The instance actor's signer (re-exported for the relay's fetches)."""
    return instance_signer()


def fetch_from_origin(url: str) -> dict[str, Any]:
    """Fetch ``url`` from its origin signed as our instance actor (raises FetchError)."""
    return fetch_document(url, signer=instance_signer())

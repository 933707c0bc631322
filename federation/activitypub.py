"""Pure conversions between our rows and AS2 documents (actors, collections)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from federation import registry
from federation.models import Actor, ActorType
from federation.vocab import CONTEXT


def _iso(dt: Any) -> str:
    return str(dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def actor_to_ap(actor: Actor) -> dict[str, Any]:
    """The AS2 document of a local actor (Person, Group or the instance Application)."""
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": actor.ap_id,
        "type": actor.type,
        "preferredUsername": actor.username,
        "name": actor.name or actor.username,
        "summary": actor.summary,
        "url": actor.url,
        "inbox": actor.inbox_url,
        "outbox": actor.outbox_url,
        "followers": actor.followers_url,
        "following": actor.following_url,
        "endpoints": {"sharedInbox": actor.shared_inbox_url},
        "manuallyApprovesFollowers": actor.manually_approves_followers,
        "discoverable": actor.discoverable,
        "published": _iso(actor.published_at),
        "publicKey": {"id": actor.public_key_id, "owner": actor.ap_id, "publicKeyPem": actor.public_key_pem},
    }
    if actor.type != ActorType.APPLICATION:
        doc["featured"] = actor.featured_url
    if actor.icon_url:
        doc["icon"] = {"type": "Image", "url": actor.icon_url}
    doc.update(registry.actor_extras(actor))  # app-provided fields (groups: moderators, attributedTo)
    return doc


def ordered_collection(collection_id: str, total: int, *, first: str | None) -> dict[str, Any]:
    """An ``OrderedCollection`` header with a link to its first page (Mastodon's shape)."""
    doc: dict[str, Any] = {
        "@context": CONTEXT[0],
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first:
        doc["first"] = first
    return doc


def ordered_collection_page(
    collection_id: str, page_id: str, items: Sequence[Any], *, next_id: str | None, prev_id: str | None = None
) -> dict[str, Any]:
    """One ``OrderedCollectionPage`` of ``items`` (ids or embedded objects)."""
    doc: dict[str, Any] = {
        "@context": CONTEXT[0],
        "id": page_id,
        "type": "OrderedCollectionPage",
        "partOf": collection_id,
        "orderedItems": list(items),
    }
    if next_id:
        doc["next"] = next_id
    if prev_id:
        doc["prev"] = prev_id
    return doc

"""AS2 documents of interactions (pure functions): ``Like``, ``Announce``, ``Block``,
``Add``/``Remove`` to the featured collection, and their ``Undo``."""

from __future__ import annotations

from typing import Any

from federation.follows import new_activity_id
from federation.models import Actor
from federation.vocab import AS_CONTEXT, PUBLIC
from microblog.models import Favourite, Post


def _iso(post: Post) -> str:
    return str(post.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"))


def like_to_ap(fav: Favourite) -> dict[str, Any]:
    """The ``Like`` of a favourite (its stable id is ``fav.ap_id``), addressed to the author."""
    return {
        "@context": AS_CONTEXT,
        "id": fav.ap_id,
        "type": "Like",
        "actor": fav.actor.ap_id,
        "object": fav.post.ap_id,
        "to": [fav.post.author.ap_id],
    }


def announce_to_ap(boost: Post) -> dict[str, Any]:
    """The ``Announce`` of a boost row (id = the boost's ``ap_id``, object = the original's id)."""
    assert boost.reblog_of is not None
    return {
        "@context": AS_CONTEXT,
        "id": boost.ap_id,
        "type": "Announce",
        "actor": boost.author.ap_id,
        "published": _iso(boost),
        "to": list(boost.to),
        "cc": list(boost.cc),
        "object": boost.reblog_of.ap_id,
    }


def block_to_ap(owner: Actor, target: Actor) -> dict[str, Any]:
    """A fresh ``Block`` of ``target`` by ``owner`` (sent to the target, as Mastodon does)."""
    return {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": "Block",
        "actor": owner.ap_id,
        "object": target.ap_id,
        "to": [target.ap_id],
    }


def featured_to_ap(actor: Actor, kind: str, post: Post) -> dict[str, Any]:
    """``Add`` or ``Remove`` of ``post`` to/from ``actor``'s featured collection (pins)."""
    return {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": kind,
        "actor": actor.ap_id,
        "object": post.ap_id,
        "target": actor.featured_url,
        "to": [PUBLIC],
        "cc": [actor.followers_url] if actor.followers_url else [],
    }


def undo_to_ap(actor: Actor, activity: dict[str, Any]) -> dict[str, Any]:
    """A fresh ``Undo`` embedding ``activity`` (without its ``@context``), same addressing."""
    inner = {k: v for k, v in activity.items() if k != "@context"}
    undo: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": "Undo",
        "actor": actor.ap_id,
        "object": inner,
    }
    for key in ("to", "cc"):
        if inner.get(key):
            undo[key] = inner[key]
    return undo

"""Remote actors: fetch from their origin (signed as the instance actor), cache, refresh.

Nothing here trusts a document it did not fetch from the document's own origin.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from federation.actors import get_instance_actor
from federation.fetch import FetchError, fetch_actor_document, fetch_document
from federation.hosts import host_of
from federation.keys import load_private_key
from federation.models import Actor, ActorType
from federation.policy import is_blocked
from federation.signing import sign_request
from federation.vocab import ACTOR_TYPES, id_of

log = logging.getLogger(__name__)

ACTOR_TTL = timedelta(days=1)
KEY_REFRESH_INTERVAL = 60  # seconds between forced key refetches of one actor


class ResolveError(Exception):
    """The actor or key could not be resolved; ``reason`` says why (used in 401 bodies and logs)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def instance_signer() -> Any:
    """A ``sign(method, url, headers, body) -> headers`` callable signing as the instance actor."""
    actor = get_instance_actor()
    key = load_private_key(actor.private_key_pem)
    key_id = actor.public_key_id

    def sign(method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        return sign_request(method, url, headers, body, key_id=key_id, private_key=key)

    return sign


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _url(value: Any) -> str:
    ident = id_of(value) if not isinstance(value, dict) or "id" in value else value.get("href")
    if isinstance(value, dict) and not ident:
        ident = value.get("url") if isinstance(value.get("url"), str) else None
    return ident if isinstance(ident, str) and ident.startswith(("http://", "https://")) and len(ident) <= 500 else ""


def _pick_key(doc: dict[str, Any], key_id: str | None = None) -> dict[str, Any]:
    keys = doc.get("publicKey")
    candidates: list[dict[str, Any]] = [k for k in (keys if isinstance(keys, list) else [keys]) if isinstance(k, dict)]
    if key_id:
        for k in candidates:
            if k.get("id") == key_id:
                return k
    return candidates[0] if candidates else {}


def upsert_actor(doc: dict[str, Any]) -> Actor:
    """Store or refresh a remote actor from a document fetched from its origin."""
    ap_id = doc["id"]
    domain = host_of(ap_id)
    kind = doc.get("type") if doc.get("type") in ACTOR_TYPES else ActorType.PERSON
    key = _pick_key(doc)
    raw_endpoints = doc.get("endpoints")
    endpoints: dict[str, Any] = raw_endpoints if isinstance(raw_endpoints, dict) else {}
    icon = doc.get("icon")
    if isinstance(icon, list):
        icon = icon[0] if icon else None
    fields = {
        "local": False,
        "type": kind,
        "username": _text(doc.get("preferredUsername"), 100) or ap_id.rstrip("/").rsplit("/", 1)[-1][:100],
        "domain": domain,
        "name": _text(doc.get("name"), 200),
        "summary": _text(doc.get("summary"), 20000),
        "icon_url": _url(icon),
        "url": _url(doc.get("url")) if not isinstance(doc.get("url"), list) else "",
        "inbox_url": _url(doc.get("inbox")),
        "outbox_url": _url(doc.get("outbox")),
        "shared_inbox_url": _url(endpoints.get("sharedInbox")) or _url(doc.get("sharedInbox")),
        "followers_url": _url(doc.get("followers")),
        "following_url": _url(doc.get("following")),
        "featured_url": _url(doc.get("featured")),
        "manually_approves_followers": bool(doc.get("manuallyApprovesFollowers", False)),
        "discoverable": bool(doc.get("discoverable", True)),
        "public_key_id": _url(key.get("id")),
        "public_key_pem": _text(key.get("publicKeyPem"), 10000),
        "data": doc,
        "fetched_at": timezone.now(),
    }
    with transaction.atomic():
        actor = _locked_actor(ap_id)
        if actor is not None:
            return _refresh_actor(actor, fields)
        # Another actor may hold the same handle (renamed/recreated account): free the handle.
        Actor.objects.filter(local=False, username=fields["username"], domain=domain).exclude(ap_id=ap_id).update(
            username=f"{fields['username']}~{timezone.now().timestamp():.0f}"
        )
        try:
            with transaction.atomic():  # a savepoint: a lost race leaves the outer transaction usable
                return Actor.objects.create(ap_id=ap_id, **fields)
        except IntegrityError as exc:
            # Two workers fetched the same new actor at once (two drains, relayed objects of one
            # group): the other stored it first, so refresh that row instead of failing.
            actor = _locked_actor(ap_id)
            if actor is None:
                raise ResolveError(f"could not store actor {ap_id}: {exc}") from exc
            return _refresh_actor(actor, fields)


def _locked_actor(ap_id: str) -> Actor | None:
    return Actor.objects.select_for_update().filter(ap_id=ap_id).first()


def _refresh_actor(actor: Actor, fields: dict[str, Any]) -> Actor:
    if actor.local:
        raise ResolveError("a remote document claims a local actor id")
    for name, value in fields.items():
        setattr(actor, name, value)
    actor.save()
    return actor


def get_or_fetch_actor(ap_id: str, *, refresh: bool = False) -> Actor:
    """The actor with this id: local, cached (fresh), or fetched from its origin now."""
    actor = Actor.objects.filter(ap_id=ap_id).first()
    if actor is not None and (actor.local or actor.suspended):
        return actor
    fresh = actor is not None and actor.fetched_at and timezone.now() - actor.fetched_at < ACTOR_TTL
    if actor is not None and fresh and not refresh:
        return actor
    if is_blocked(host_of(ap_id)):
        raise ResolveError(f"domain of {ap_id} is blocked")
    try:
        doc = fetch_actor_document(ap_id, signer=instance_signer())
    except FetchError as exc:
        if actor is not None:
            log.warning("refresh of %s failed (%s); using cached copy", ap_id, exc.reason)
            return actor
        raise ResolveError(f"could not fetch actor {ap_id}: {exc.reason}") from exc
    return upsert_actor(doc)


KEY_CACHE_TTL = 300.0  # seconds a process trusts its copy of a key's owner
_key_cache: dict[str, tuple[float, Actor]] = {}


def forget_keys() -> None:
    """Drop this process's key cache (tests, key rotation of local actors)."""
    _key_cache.clear()


def actor_for_key(key_id: str, *, refresh: bool = False) -> Actor:
    """The actor owning ``key_id``; the owner's document must list that key back.

    Owners are cached in process memory for ``KEY_CACHE_TTL`` seconds: the inbox's hot path
    then needs no query for a known sender. With ``refresh`` the owner is refetched (key
    rotation), at most once a minute per key, and the cache entry replaced.
    """
    now = time.monotonic()
    if not refresh:
        hit = _key_cache.get(key_id)
        if hit is not None and now - hit[0] < KEY_CACHE_TTL:
            return hit[1]
    actor = _actor_for_key(key_id, refresh=refresh)
    if len(_key_cache) > 50_000:
        _key_cache.clear()
    _key_cache[key_id] = (now, actor)
    return actor


def _actor_for_key(key_id: str, *, refresh: bool) -> Actor:
    found = list(
        Actor.objects.filter(public_key_id=key_id)
        .exclude(public_key_pem="")
        .only("id", "ap_id", "local", "suspended", "public_key_id", "public_key_pem", "fetched_at", "domain")
        .order_by()[:1]
    )
    actor = found[0] if found else None
    if actor is not None and not refresh:
        return actor
    if actor is not None and refresh:
        if actor.local or not cache.add(f"federation:keyrefresh:{key_id}", 1, KEY_REFRESH_INTERVAL):
            return actor
        refreshed = get_or_fetch_actor(actor.ap_id, refresh=True)
        if refreshed.public_key_id != key_id:
            raise ResolveError("the actor no longer lists this key")
        return refreshed
    if is_blocked(host_of(key_id)):
        raise ResolveError("the key's domain is blocked")
    owner_id = _owner_of_key(key_id)
    owner = get_or_fetch_actor(owner_id, refresh=True)
    if owner.public_key_id != key_id:
        # The owner must list this key back, or anyone could claim to own it.
        raise ResolveError("the key's owner does not list this key")
    return owner


def _owner_of_key(key_id: str) -> str:
    """Find which actor a key URL belongs to: ``actor#main-key`` style ids point into the actor
    document; otherwise fetch the key document and read its ``owner``."""
    base = key_id.split("#", 1)[0]
    if base != key_id:
        return base
    try:
        doc = fetch_document(key_id, signer=instance_signer())
    except FetchError as exc:
        raise ResolveError(f"could not fetch key {key_id}: {exc.reason}") from exc
    if doc.get("type") in ACTOR_TYPES:
        return str(doc["id"])
    owner = doc.get("owner") or doc.get("controller")
    if not isinstance(owner, str) or host_of(owner) != host_of(key_id):
        raise ResolveError("the key document has no owner on its own host")
    return owner

"""Local actors: creation (with keys), the instance actor, and the shared name namespace.

Members, groups and the node's instance actor share one ``username`` namespace per node.
Ids are opaque and stable (``/actors/<pk>`` style): never derived from a changeable name.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from federation.keys import generate_key_pair
from federation.models import Actor, ActorType

INSTANCE_ACTOR_USERNAME = "instance.actor"
RESERVED_NAMES = frozenset(
    {INSTANCE_ACTOR_USERNAME, "admin", "root", "support", "relay", "actor", "inbox", "outbox", "hub", "system"}
)
_NAME_RE = re.compile(r"^[a-z0-9_]{1,30}$")


class NameTaken(Exception):
    """The username is already used by a member, a group or the node itself, or is reserved."""


def base_url() -> str:
    """This node's origin, e.g. ``http://127.0.0.1:8101``."""
    return str(settings.NODE_BASE_URL)


def name_available(username: str) -> bool:
    """True when no local actor (member, group, node) holds ``username`` and it is not reserved."""
    return username not in RESERVED_NAMES and not Actor.objects.filter(local=True, username=username).exists()


def _fill_urls(actor: Actor) -> None:
    root = f"{base_url()}/actors/{actor.pk}"
    actor.ap_id = root
    actor.inbox_url = f"{root}/inbox"
    actor.outbox_url = f"{root}/outbox"
    actor.followers_url = f"{root}/followers"
    actor.following_url = f"{root}/following"
    actor.featured_url = f"{root}/featured"
    actor.shared_inbox_url = f"{base_url()}/inbox"
    actor.public_key_id = f"{root}#main-key"
    if actor.type == ActorType.APPLICATION:
        actor.url = f"{base_url()}/about"
    elif actor.type == ActorType.GROUP:
        actor.url = f"{base_url()}/g/{actor.username}"
    else:
        actor.url = f"{base_url()}/@{actor.username}"


def create_local_actor(
    *,
    username: str,
    type: str = ActorType.PERSON,
    user: Any = None,
    name: str = "",
    summary: str = "",
    manually_approves_followers: bool = False,
) -> Actor:
    """Create a local actor with a fresh RSA-2048 key pair and stable URLs.

    Raises :class:`NameTaken` when the name is reserved or already used by any local actor.
    Must run inside the caller's transaction when it creates the owning row too.
    """
    if username != INSTANCE_ACTOR_USERNAME and (username in RESERVED_NAMES or not _NAME_RE.match(username)):
        raise NameTaken(username)
    private_pem, public_pem = generate_key_pair()
    try:
        with transaction.atomic():
            actor = Actor.objects.create(
                ap_id=f"urn:redcloud:pending:{username}",
                local=True,
                type=type,
                username=username,
                domain=str(settings.NODE_DOMAIN),
                user=user,
                name=name,
                summary=summary,
                manually_approves_followers=manually_approves_followers,
                public_key_pem=public_pem,
                private_key_pem=private_pem,
                key_rotated_at=timezone.now(),
            )
            _fill_urls(actor)
            actor.save()
    except IntegrityError as exc:
        raise NameTaken(username) from exc
    return actor


def get_instance_actor() -> Actor:
    """The node's ``Application`` actor (signs fetches and node-to-node traffic); created on first use."""
    actor = Actor.objects.filter(local=True, username=INSTANCE_ACTOR_USERNAME).first()
    if actor is not None:
        return actor
    try:
        return create_local_actor(
            username=INSTANCE_ACTOR_USERNAME,
            type=ActorType.APPLICATION,
            name=str(settings.NODE_NAME),
            manually_approves_followers=True,
        )
    except NameTaken:  # created concurrently
        return Actor.objects.get(local=True, username=INSTANCE_ACTOR_USERNAME)

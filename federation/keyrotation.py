"""Key rotation of a local actor, announced to its followers with ``Update``."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from federation.activitypub import actor_to_ap
from federation.follows import new_activity_id
from federation.keys import generate_key_pair
from federation.models import Actor
from federation.outbox import inboxes_for_followers, publish
from federation.vocab import CONTEXT


def rotate_key(actor: Actor) -> Actor:
    """Give ``actor`` a new RSA key pair (same key id) and send ``Update{actor}`` to its
    followers, who refetch it when the old key stops verifying."""
    private_pem, public_pem = generate_key_pair()
    with transaction.atomic():
        actor.private_key_pem, actor.public_key_pem = private_pem, public_pem
        actor.key_rotated_at = timezone.now()
        actor.save(update_fields=["private_key_pem", "public_key_pem", "key_rotated_at", "updated_at"])
        doc = actor_to_ap(actor)
        doc.pop("@context")
        update = {
            "@context": CONTEXT,
            "id": new_activity_id(),
            "type": "Update",
            "actor": actor.ap_id,
            "object": doc,
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
        }
        publish(update, actor=actor, inboxes=inboxes_for_followers(actor), object_ap_id=actor.ap_id, public=True)
    return actor

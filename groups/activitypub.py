"""AS2 shapes of groups: the Group actor's extra fields (Lemmy's moderators collection as
``attributedTo``, ``postingRestrictedToMods``, member count), the moderators collection, and the
``Add``/``Remove`` activities that announce officer changes.

Interop: Lemmy reads officers from the collection named by ``attributedTo`` (its ``moderators``
context term); Mobilizon reads ``members``/``memberCount``; both are plain extra fields to
Mastodon, which shows the group as an account.
"""

from __future__ import annotations

from typing import Any

from federation.activitypub import ordered_collection
from federation.models import Actor, ActorType
from federation.vocab import AS_CONTEXT, CONTEXT

GROUP_CONTEXT: dict[str, Any] = {
    "lemmy": "https://join-lemmy.org/ns#",
    "moderators": {"@id": "lemmy:moderators", "@type": "@id"},
    "postingRestrictedToMods": "lemmy:postingRestrictedToMods",
    "mz": "https://joinmobilizon.org/ns#",
    "memberCount": {"@id": "mz:memberCount", "@type": "http://schema.org#Integer"},
}


def moderators_url(actor: Actor) -> str:
    """The moderators (officers) collection of a local group actor."""
    return f"{actor.ap_id}/moderators"


def group_actor_extras(actor: Actor) -> dict[str, Any]:
    """Fields merged into a local Group actor's document (``registry.register_actor_extras``);
    empty for other actors."""
    if actor.type != ActorType.GROUP or not actor.local:
        return {}
    from groups.models import Group
    from groups.services import active_members

    group = Group.objects.filter(actor=actor).first()
    if group is None:
        return {}
    context = [*CONTEXT[:-1], {**CONTEXT[-1], **GROUP_CONTEXT}]
    return {
        "@context": context,
        "attributedTo": moderators_url(actor),
        "moderators": moderators_url(actor),
        "postingRestrictedToMods": False,
        "memberCount": active_members(group).count(),
        "redcloud:kind": group.kind,
    }


def moderators_collection(group: Any) -> dict[str, Any]:
    """The officers of ``group`` as an ``OrderedCollection`` of actor ids (Lemmy's shape)."""
    from groups.services import officers

    ids = [m.actor.ap_id for m in officers(group)]
    doc = ordered_collection(moderators_url(group.actor), len(ids), first=None)
    doc["orderedItems"] = ids
    return doc


def moderators_change(group: Any, member: Actor, kind: str) -> dict[str, Any]:
    """``Add``/``Remove`` of ``member`` to/from the group's moderators collection, sent by the group."""
    from federation.follows import new_activity_id

    return {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": kind,
        "actor": group.actor.ap_id,
        "object": member.ap_id,
        "target": moderators_url(group.actor),
        "to": [group.actor.followers_url],
        "cc": [member.ap_id],
    }


def join_response(group: Any, member: Actor, request_ap_id: str, kind: str) -> dict[str, Any]:
    """``Accept``/``Reject`` of a member's ``Join`` of the group (Mobilizon/Smithereen), the
    ``Join`` embedded so the receiver can match it by id."""
    from federation.follows import new_activity_id

    return {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": kind,
        "actor": group.actor.ap_id,
        "object": {"id": request_ap_id, "type": "Join", "actor": member.ap_id, "object": group.actor.ap_id},
        "to": [member.ap_id],
    }


def followers_policy(actor: Actor, request: Any) -> bool:
    """Followers-collection policy (``registry.register_followers_policy``): a members-only
    group lists its followers (its members) only to its own active members signed in here;
    everyone else, signed fetches from other nodes included, gets ``totalItems`` only."""
    if actor.type != ActorType.GROUP or not actor.local:
        return True
    from groups.models import Group
    from groups.services import is_member

    group = Group.objects.filter(actor=actor).first()
    if group is None or not group.members_only:
        return True
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    viewer = Actor.objects.filter(user=user, local=True).first()
    return is_member(viewer, group)

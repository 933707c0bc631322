"""Group posts (FEP-1b12, as Lemmy does): a member's post addressed to a group is carried by
the group, which ``Announce``s it to its followers (the members' nodes).

Writing: :func:`create_group_post` (a member posts to a group, through
``microblog.services.create_post(..., audience=group)``). In a members-only group the post is
addressed to the group alone (``to: [group]``, a ``Mention`` of it, no ``Public``), so only the
group and, through its ``Announce``, the members get it; in an open group it is public.

Carrying (our groups): :func:`on_post_event` is a ``microblog.hooks`` observer. When a post is
stored (local, or from an inbound ``Create``) and names one of our groups in ``audience``,
``to``/``cc``, ``attributedTo`` (Mobilizon, PeerTube), ``target`` (Smithereen; also a
``Collection`` whose ``attributedTo`` is the group), ``context``, a ``Mention`` tag
(``@group@domain``, as Guppe and Friendica forums) or replies to a post the group carries, and
its author is an active member, the group records a :class:`~groups.models.GroupPost` and
announces it. A non-member's post is never announced nor shown in the group timeline.
Updates, deletes and likes (``Like``/``Undo{Like}``, :func:`announce_interaction`) of carried
posts are announced the same way; officers delete any post of
the group (:func:`moderate_delete`, an announced ``Delete`` by the officer, which Lemmy reads
as a moderator removal) and pin announcements (:func:`pin_post`, ``Add`` to ``featured``).

Two announce forms per new post: ``Announce{<the Create, unchanged>}`` (Lemmy, our nodes) and
a plain ``Announce{<the object, embedded>}`` (Mastodon and other microblogs cannot process an
announced ``Create``; Lemmy sends the same pair). A follower inbox whose software we know from
its NodeInfo (``federation.software``, learned by a beat job) gets the one form it processes;
an unknown one gets both: our receivers (:mod:`groups.posts_inbound`) dedupe by object id,
Lemmy ignores the plain one for a post it already has, Mastodon ignores the announced
``Create``. Both activities exist (stable ids, the group's outbox) whoever receives them.
Updates and deletes are announced once (``Announce{Update}``/``Announce{Delete}``).
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q

from federation import software
from federation.follows import new_activity_id
from federation.models import Actor, ActorType, Follow, FollowState
from federation.outbox import cancel_deliveries, inboxes_for_followers, publish
from federation.vocab import AS_CONTEXT, PUBLIC, as_list, id_of, ids_of
from groups import posts_inbound, votes  # noqa: F401 - their handlers and vote check register on import
from groups.models import Group, GroupPost
from groups.services import has_perm, is_member
from groups.timeline import carry_in_home, drop_from_home, timeline
from microblog import hooks, services
from microblog.activitypub import post_to_ap, post_to_create, post_to_delete, post_to_update
from microblog.interactions import bump_counter
from microblog.interactions_ap import featured_to_ap
from microblog.models import Favourite, Mention, Pin, Post, Visibility

OPEN = (Visibility.PUBLIC, Visibility.UNLISTED)
# Fields of an object (or activity) that may name the group owning a post (FEP-1b12 and peers).
OWNER_FIELDS = ("audience", "to", "cc", "attributedTo", "target", "context")


# ---------------------------------------------------------------- who carries a post


def _named_ids(doc: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for key in OWNER_FIELDS:
        value = doc.get(key)
        ids += ids_of(value)
        for item in as_list(value):  # Smithereen: target = Collection attributedTo the group
            if isinstance(item, dict):
                ids += ids_of(item.get("attributedTo"))
    return ids


def groups_named(post: Post, activity: dict[str, Any] | None = None) -> list[Actor]:
    """Group actors (local or known remote) that ``post`` is addressed to: see the module
    docstring for the fields looked at. The post's own author is never its group."""
    ids = [*post.to, *post.cc]
    if post.audience_id:
        ids.append(post.audience.ap_id)  # type: ignore[union-attr]
    if activity:
        ids += _named_ids(activity)
        if isinstance(activity.get("object"), dict):
            ids += _named_ids(activity["object"])
    mentioned = Mention.objects.filter(post=post, actor__type=ActorType.GROUP).values("actor")
    found = Actor.objects.filter(type=ActorType.GROUP).filter(Q(ap_id__in=set(ids)) | Q(pk__in=mentioned))
    groups = {a.pk: a for a in found.exclude(pk=post.author_id)}
    if post.in_reply_to_id:  # a reply to a carried post belongs to the same group
        for entry in GroupPost.objects.filter(post_id=post.in_reply_to_id).select_related("group_actor"):
            groups.setdefault(entry.group_actor_id, entry.group_actor)
    return list(groups.values())


def is_local_group(actor: Actor) -> bool:
    """True when ``actor`` is one of this node's groups."""
    return actor.local and actor.type == ActorType.GROUP and Group.objects.filter(actor=actor).exists()


def follows_group(viewer: Actor | None, group_actor: Actor) -> bool:
    """True when ``viewer`` belongs to ``group_actor``: an active member of our group, or an
    accepted follower of a remote group (its node told us with ``Accept``)."""
    if viewer is None:
        return False
    if viewer.pk == group_actor.pk:
        return True
    if group_actor.local:
        return is_member(viewer, group_actor)
    return Follow.objects.filter(follower=viewer, target=group_actor, state=FollowState.ACCEPTED).exists()


# ---------------------------------------------------------------- announcing


def _stable_id(group_actor: Actor, verb: str, ident: str) -> str:
    key = uuid.uuid5(uuid.NAMESPACE_URL, f"{group_actor.ap_id}#{verb}#{ident}")
    return f"{settings.NODE_BASE_URL}/activities/{key}"


def announce_to_ap(group_actor: Actor, obj: Any, *, public: bool, verb: str = "announce") -> dict[str, Any]:
    """``Announce{obj}`` by the group with a stable id (same group and object → same id);
    addressed as Lemmy does (``to: Public, cc: followers``), or to the followers only."""
    inner = dict(obj) if isinstance(obj, dict) else obj
    if isinstance(inner, dict):
        inner.pop("@context", None)
    followers = group_actor.followers_url
    return {
        "@context": AS_CONTEXT,
        "id": _stable_id(group_actor, verb, str(id_of(obj))),
        "type": "Announce",
        "actor": group_actor.ap_id,
        "to": [PUBLIC] if public else [followers],
        "cc": [followers] if public else [],
        "object": inner,
    }


def announce(group_actor: Actor, post: Post, inner: dict[str, Any], *, plain: bool = False) -> list[str]:
    """Publish ``Announce{inner}`` (and with ``plain`` also ``Announce{<the post>}``) from our
    group to its remote followers; returns the announce ids. With ``plain``, each inbox gets
    the forms its software needs (``federation.software.announce_forms``: one for a known peer,
    both for an unknown one). Runs in the caller's transaction."""
    public = post.visibility in OPEN
    inboxes = inboxes_for_followers(group_actor)
    wrapped = announce_to_ap(group_actor, inner, public=public)
    if not plain:
        publish(wrapped, actor=group_actor, inboxes=inboxes, object_ap_id=post.ap_id, public=public)
        return [wrapped["id"]]
    forms = software.announce_forms(inboxes)
    bare = announce_to_ap(group_actor, post_to_ap(post, context=False), public=public, verb="plain")
    for activity, form in ((wrapped, software.CREATE), (bare, software.PLAIN)):
        targets = [url for url in inboxes if form in forms[url]]
        publish(activity, actor=group_actor, inboxes=targets, object_ap_id=post.ap_id, public=public)
    return [wrapped["id"], bare["id"]]


@shared_task(name="groups.announce_local_post", ignore_result=True)
def announce_local_post(group_actor_id: int, post_id: int, event: str) -> None:
    """Our group announces the ``Create``/``Update``/``Delete`` of a local member's post it
    carries (rebuilt from the row, stable ids: running twice sends once). Called in the post's
    own transaction (a transactional outbox: the post and its announces commit together, and the
    deliveries are queued at commit, one task hop sooner; bench B5); still a task so that
    messages queued by an older release run."""
    entry = GroupPost.objects.filter(group_actor_id=group_actor_id, post_id=post_id).select_related("group_actor")
    row = entry.first()
    post = Post.objects.select_related("author", "audience", "in_reply_to").filter(pk=post_id).first()
    if row is None or post is None or not post.local:
        return
    with transaction.atomic():
        if event == "deleted":
            announce(row.group_actor, post, post_to_delete(post))
        elif post.deleted_at is None:
            build = post_to_update if event == "updated" else post_to_create
            ids = announce(row.group_actor, post, build(post), plain=event == "created")
            if event == "created" and not row.announce_ap_id:
                GroupPost.objects.filter(pk=row.pk).update(announce_ap_id=ids[0])
            if event == "created":
                carry_in_home(row.group_actor, post, ids[0])  # local members' home timelines


def on_post_event(event: str, post: Post, activity: dict[str, Any] | None) -> None:
    """``microblog.hooks`` observer: our groups carry and announce their members' posts (see the
    module docstring); posts authored by a group (its polls) are its own. Runs in the caller's
    transaction, local posts' announces included."""
    if post.reblog_of_id:
        return
    if event in ("liked", "unliked"):
        announce_interaction(post, activity)
        return
    if post.author.type == ActorType.GROUP and event == "created":
        GroupPost.objects.get_or_create(group_actor=post.author, post=post)
        return
    if event == "created":
        targets = [g for g in groups_named(post, activity) if is_local_group(g) and is_member(post.author, g)]
        for group_actor in targets:
            row, created = GroupPost.objects.get_or_create(group_actor=group_actor, post=post)
            if not created:
                continue
            if post.audience_id is None:  # named by a mention or `to` only: the carrying group is its audience
                Post.objects.filter(pk=post.pk).update(audience=group_actor)
                post.audience = group_actor
            if post.local:
                announce_local_post(group_actor.pk, post.pk, event)
            elif activity is not None:
                ids = announce(group_actor, post, activity, plain=True)
                GroupPost.objects.filter(pk=row.pk).update(announce_ap_id=ids[0])
                carry_in_home(group_actor, post, ids[0])
        return
    carried = GroupPost.objects.filter(post=post, group_actor__local=True).select_related("group_actor")
    for row in carried:
        if event == "deleted":
            drop_from_home(row.group_actor, post)
        if post.local:
            announce_local_post(row.group_actor_id, post.pk, event)
        elif activity is not None and id_of(activity.get("actor")) == post.author.ap_id:
            announce(row.group_actor, post, activity)


def announce_interaction(post: Post, activity: dict[str, Any] | None) -> None:
    """Our groups announce a ``Like``/``Undo{Like}`` of a post they carry to their members
    (FEP-1b12, as Lemmy does), unchanged, when the liker may see the post (in a members-only
    group: a member). Stable ids: the same like is announced once."""
    if not isinstance(activity, dict) or not activity.get("id"):
        return
    liker = Actor.objects.filter(ap_id=id_of(activity.get("actor")) or "").first()
    if liker is None:
        return
    carried = [
        row
        for row in GroupPost.objects.filter(post=post, group_actor__local=True).select_related("group_actor")
        if liker.pk != row.group_actor_id and services.can_see(liker, post)
    ]
    if carried and not liker.local and not post.local:  # sent to the group only: counted here too
        count_remote_like(liker, post, activity)
    for row in carried:
        announce(row.group_actor, post, activity)


def count_remote_like(liker: Actor, post: Post, activity: dict[str, Any]) -> None:
    """Record (``Like``) or drop (``Undo``) a remote member's like of a remote post, once."""
    if activity.get("type") == "Undo":
        if Favourite.objects.filter(actor=liker, post=post).delete()[0]:
            bump_counter(post.pk, "favourites_count", -1)
        return
    _, created = Favourite.objects.get_or_create(
        actor=liker, post=post, defaults={"ap_id": str(activity.get("id"))[:500]}
    )
    if created:
        bump_counter(post.pk, "favourites_count", 1)


def on_posts_created(pairs: list[tuple[Post, dict[str, Any]]]) -> None:
    """Bulk variant of :func:`on_post_event` for ``created`` (remote posts stored together by an
    inbox drain): two queries find the posts that could belong to a group at all (naming a
    known group in an owner field or by a ``Mention``); only those, and posts by groups, with
    an audience or replying to a stored post, go through :func:`on_post_event`."""
    named: dict[int, set[str]] = {}
    for post, activity in pairs:
        ids = {*post.to, *post.cc, *_named_ids(activity)}
        if isinstance(activity.get("object"), dict):
            ids.update(_named_ids(activity["object"]))
        named[post.pk] = ids
    every = set().union(*named.values())
    groups = set(Actor.objects.filter(type=ActorType.GROUP, ap_id__in=every).values_list("ap_id", flat=True))
    pks = list(named)
    mentioning = set(
        Mention.objects.filter(post_id__in=pks, actor__type=ActorType.GROUP).values_list("post_id", flat=True)
    )
    for post, activity in pairs:
        if (
            post.author.type == ActorType.GROUP
            or post.audience_id
            or post.in_reply_to_id
            or post.pk in mentioning
            or named[post.pk] & groups
        ):
            on_post_event("created", post, activity)


hooks.register_post_observer(on_post_event)
hooks.register_bulk_observer(on_post_event, on_posts_created)


# ---------------------------------------------------------------- writing, moderation, pins


def create_group_post(
    author: Actor, group_actor: Actor, *, text: str, members_only: bool | None = None, **options: Any
) -> Post:
    """A local member posts to a group (ours or remote). Guarantees: the author belongs to the
    group (``post`` permission in ours; an accepted follow of a remote one), else
    ``PermissionDenied`` and nothing stored; in a members-only group the post is addressed to
    the group alone (no ``Public``, no followers); ``options`` go to ``create_post``."""
    local = group_actor.local
    if local and not has_perm(author, group_actor, "post"):
        raise PermissionDenied("only members can post to this group")
    if not local and not follows_group(author, group_actor):
        raise PermissionDenied("join the group before posting to it")
    if members_only is None:
        group = Group.objects.filter(actor=group_actor).first()
        members_only = bool(group.members_only) if group is not None else False
    if not members_only:
        return services.create_post(author, text=text, audience=group_actor, **options)
    options["visibility"] = Visibility.DIRECT
    with transaction.atomic():
        post = services.create_post(author, text=text, audience=group_actor, **options)
        Mention.objects.get_or_create(post=post, actor=group_actor)
        post.to = [group_actor.ap_id, *[a for a in post.to if a != group_actor.ap_id]]
        post.save(update_fields=["to"])
    return post


def _check_carried(officer: Actor, group_actor: Actor, post: Post, perm: str) -> None:
    if not group_actor.local or not has_perm(officer, group_actor, perm):
        raise PermissionDenied(f"not allowed to {perm} in this group")
    if not GroupPost.objects.filter(group_actor=group_actor, post=post).exists():
        raise PermissionDenied("this post is not in the group")


def moderate_delete(officer: Actor, group_actor: Actor, post: Post) -> None:
    """An officer (``moderate`` permission) removes any post of our group: the post is
    tombstoned here, its pending deliveries cancelled, and the group announces the officer's
    ``Delete`` to the members. Idempotent; ``PermissionDenied`` for others or foreign posts."""
    _check_carried(officer, group_actor, post, "moderate")
    with transaction.atomic():
        locked = Post.objects.select_for_update().get(pk=post.pk)
        if locked.deleted_at is not None:
            return
        public = locked.visibility in OPEN
        services.tombstone(locked)
        cancel_deliveries(locked.ap_id)
        drop_from_home(group_actor, locked)
        delete = {
            "id": new_activity_id(),
            "type": "Delete",
            "actor": officer.ap_id,
            "object": locked.ap_id,
            "to": [PUBLIC] if public else [group_actor.followers_url],
            "cc": [group_actor.ap_id],
            "audience": group_actor.ap_id,
        }
        announce(group_actor, locked, delete)
    post.refresh_from_db()


def pin_post(officer: Actor, group_actor: Actor, post: Post) -> Pin:
    """An officer pins a post of our group to its ``featured`` collection (an announcement);
    ``Add`` goes to the members. Idempotent."""
    _check_carried(officer, group_actor, post, "moderate")
    with transaction.atomic():
        row, created = Pin.objects.get_or_create(actor=group_actor, post=post)
        if created:
            publish(
                featured_to_ap(group_actor, "Add", post),
                actor=group_actor,
                inboxes=inboxes_for_followers(group_actor),
                object_ap_id=post.ap_id,
                public=post.visibility in OPEN,
            )
    return row


# ---------------------------------------------------------------- reading


def group_timeline(
    viewer: Actor | None, group_actor: Actor, *, max_id: int | None = None, limit: int = 20, **page: Any
) -> list[Post]:
    """The posts ``group_actor`` carries, newest first (see :func:`groups.timeline.timeline`:
    members see them all, anyone else only public and unlisted ones, so members-only content
    never shows to non-members; ``page`` may add ``since_id``/``min_id``)."""
    return timeline(viewer, group_actor, max_id=max_id, limit=limit, **page)

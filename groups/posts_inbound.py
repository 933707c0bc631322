"""At a member's node: posts a remote group carries, arriving as the group's ``Announce``.

- ``Announce{Create{Note|Page|Article|Question}}`` (Lemmy, our own groups, FEP-1b12);
- ``Announce{Note|Page|...}`` (the plain form Lemmy and we also send for Mastodon; from a
  non-Group actor it is an ordinary boost and goes to ``microblog.interactions_inbound``);
- ``Announce{Update{...}}`` and ``Announce{Delete{...}}`` of a carried post;
- ``Announce{Like}`` and ``Announce{Undo{Like}}`` of a carried post (counted as likes here).

Trust: the announcing group is authenticated by federation; the inner object is used as
embedded only when its id is on the group's host (Lemmy posts live on the community's
instance); otherwise it is fetched from its origin and its ``attributedTo`` must be on that
host. Exception, members-only group posts (:func:`vouched_by_group`): a post that is not
public and is addressed to the announcing group (``audience``/``to``) can't be fetched from
its origin (origins serve only public posts, so the fetch is a 404), so the copy embedded in
the group's ``Announce{Create}`` is trusted when the Create is unchanged in shape: its actor
is the object's ``attributedTo``, both on the object's host. The group's node accepted that
Create from its author's signed delivery (FEP-1b12: the group only announces what its members
sent it), and a group can only vouch for posts inside itself: it is stored with ``audience`` =
that group, never public, visible only as a group post. A post we already store is reused (it
came from a verified source). Only groups a local
member belongs to (accepted follow) are listened to; anything else is acknowledged and dropped.
The stored post gets ``audience`` = the group (Lemmy 0.18 wrote a wrong ``audience``, see
``lemmy/announce_create_page.json``: the announcing group wins) and a ``GroupPost`` row, so it
shows in the group timeline.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from federation.fetch import FetchError, fetch_document
from federation.hosts import host_of
from federation.inbound import Reject, same_origin
from federation.models import Actor, ActorType, Follow, FollowState
from federation.registry import register_handler
from federation.resolve import ResolveError, get_or_fetch_actor, instance_signer
from federation.vocab import id_of, ids_of, is_public, type_of
from groups.models import GroupPost
from groups.timeline import carry_in_home, drop_from_home
from microblog import effects, interactions_inbound, tasks
from microblog.activitypub import RemotePostError, ap_to_post
from microblog.interactions import bump_counter
from microblog.models import Favourite, Post
from microblog.services import tombstone

POST_TYPES = ("Note", "Page", "Article", "Question")


def _listened(group: Actor) -> bool:
    return (
        group.type == ActorType.GROUP
        and not group.local
        and Follow.objects.filter(target=group, follower__local=True, state=FollowState.ACCEPTED).exists()
    )


def _fetch(ident: str) -> dict[str, Any]:
    try:
        return fetch_document(ident, signer=instance_signer())
    except FetchError as exc:
        if exc.retryable:
            raise  # network trouble: the worker retries
        raise Reject(f"announced object {ident[:200]} unavailable at its origin: {exc}") from exc


def vouched_by_group(create: Any, group: Actor) -> bool:
    """True when ``create`` (an announced ``Create``/``Update``) carries a members-only post of
    ``group`` that the group may vouch for: the object is embedded, not public, addressed to the
    group (``audience`` or ``to``), and the activity's actor is the object's single author, on
    the object's host. Such a post can't be fetched from its origin (see the module docstring)."""
    if not isinstance(create, dict) or not isinstance(create.get("object"), dict):
        return False
    obj = create["object"]
    ident, author = id_of(obj), ids_of(obj.get("attributedTo"))
    if not ident or len(author) != 1 or id_of(create.get("actor")) != author[0]:
        return False
    try:
        if host_of(author[0]) != host_of(ident):
            return False
    except ValueError:
        return False
    if is_public(create):
        return False
    addressed = ids_of(obj.get("audience")) + ids_of(obj.get("to"))
    return group.ap_id in addressed


def verified_object(obj: Any, group: Actor, *, create: Any = None) -> dict[str, Any]:
    """The announced object as a document we may trust: embedded when on the group's host or
    when the group vouches for it (``create``: the announced activity, see
    :func:`vouched_by_group`), else fetched from its origin (an embedded copy from another
    host is otherwise never trusted)."""
    ident = id_of(obj)
    if not ident:
        raise Reject("announced activity without an object id")
    if isinstance(obj, dict) and same_origin(ident, group):
        return obj
    if isinstance(obj, dict) and create is not None and create.get("object") is obj and vouched_by_group(create, group):
        return obj
    return _fetch(ident)


def _author_of(doc: dict[str, Any]) -> Actor:
    authors = ids_of(doc.get("attributedTo"))
    author_id = next((a for a in authors if a), None)
    try:
        if not author_id or host_of(author_id) != host_of(str(doc["id"])):
            raise Reject("the object's author is not on the object's host")
        return get_or_fetch_actor(author_id)
    except (ValueError, ResolveError) as exc:
        raise Reject(f"the object's author is unavailable: {exc}") from exc


def store_group_post(obj: Any, group: Actor, announce_id: str, *, create: Any = None) -> Post | None:
    """Store (or reuse) the post ``obj`` names, verified (see :func:`verified_object`; ``create``
    is the announced activity carrying it, if any), as carried by ``group``; returns it (None
    for objects that are not posts)."""
    ident = id_of(obj)
    post = Post.objects.filter(ap_id=ident or "").select_related("author").first() if ident else None
    created = False
    if post is None:
        doc = verified_object(obj, group, create=create)
        if type_of(doc) not in POST_TYPES:
            return None
        try:
            post = ap_to_post(doc, actor=_author_of(doc))
        except RemotePostError as exc:
            raise Reject(str(exc)) from exc
        created = True
    if post.deleted_at is not None or post.reblog_of_id:
        return None
    if post.audience_id != group.pk:
        Post.objects.filter(pk=post.pk).update(audience=group)
        post.audience = group
    GroupPost.objects.get_or_create(group_actor=group, post=post, defaults={"announce_ap_id": announce_id[:500]})
    carry_in_home(group, post, announce_id)  # members' home timelines here
    if created and effects.may_notify(post):
        pk = post.pk
        transaction.on_commit(lambda: tasks.surface_post.delay(pk))
    return post


def _check_announce(activity: dict[str, Any], group: Actor) -> None:
    if not same_origin(str(activity.get("id") or ""), group):
        raise Reject("an Announce must have an id on the actor's host")


@register_handler("Announce", "Create")
def handle_announce_create(activity: dict[str, Any], actor: Actor) -> None:
    """A group we belong to carries a post: store it (verified) with ``audience`` = the group."""
    if not _listened(actor):
        return
    _check_announce(activity, actor)
    inner = activity.get("object")
    if not isinstance(inner, dict):
        return
    if type_of(inner.get("object")) not in (*POST_TYPES, None):
        return  # Create{Event} and friends: the events module's business
    store_group_post(inner.get("object"), actor, str(activity["id"]), create=inner)


@register_handler("Announce", "Note")
@register_handler("Announce", "Page")
@register_handler("Announce", "Article")
@register_handler("Announce", "Question")
def handle_announce_object(activity: dict[str, Any], actor: Actor) -> None:
    """Plain ``Announce{object}``: from a group we belong to, a group post (deduplicated with
    the announced ``Create``: one carried post, one group boost for home timelines); from anyone
    else, an ordinary boost."""
    if not _listened(actor):
        interactions_inbound.handle_announce(activity, actor)
        return
    _check_announce(activity, actor)
    store_group_post(activity.get("object"), actor, str(activity["id"]))


def _carried(inner: dict[str, Any], group: Actor) -> Post | None:
    ident = id_of(inner.get("object"))
    if not ident:
        return None
    return Post.objects.filter(ap_id=ident, group_entries__group_actor=group).select_related("author").first()


@register_handler("Announce", "Update")
def handle_announce_update(activity: dict[str, Any], actor: Actor) -> None:
    """An edit of a carried post: the new version is taken from its origin (or the group's host)."""
    if not _listened(actor):
        return
    _check_announce(activity, actor)
    inner = activity.get("object")
    post = _carried(inner, actor) if isinstance(inner, dict) else None
    if post is None or post.local or post.deleted_at is not None:
        return
    doc = verified_object(inner["object"], actor, create=inner)
    try:
        ap_to_post(doc, actor=post.author)  # checks the author
    except RemotePostError as exc:
        raise Reject(str(exc)) from exc


@register_handler("Announce", "Delete")
def handle_announce_delete(activity: dict[str, Any], actor: Actor) -> None:
    """A carried post is deleted or removed by a moderator: it leaves the group timeline; it
    is tombstoned when its origin confirms (404/410) or the group hosts it (Lemmy)."""
    if not _listened(actor):
        return
    _check_announce(activity, actor)
    inner = activity.get("object")
    post = _carried(inner, actor) if isinstance(inner, dict) else None
    if post is None:
        return
    GroupPost.objects.filter(group_actor=actor, post=post).delete()
    drop_from_home(actor, post)
    if post.local or post.deleted_at is not None:
        return
    gone = same_origin(post.ap_id, actor)
    if not gone:
        try:
            fetch_document(post.ap_id, signer=instance_signer())
        except FetchError as exc:
            gone = exc.status in (404, 410)
    if gone:
        locked = Post.objects.select_for_update().get(pk=post.pk)
        if locked.deleted_at is None:
            tombstone(locked)


def _announced_like(activity: dict[str, Any], group: Actor) -> tuple[Actor, Post] | None:
    """(liker, post) of an announced ``Like`` of a remote post ``group`` carries, or None."""
    like = activity.get("object")
    if not isinstance(like, dict) or type_of(like) not in ("Like", "EmojiReact"):
        return None
    post = Post.objects.filter(ap_id=id_of(like.get("object")) or "", local=False, group_entries__group_actor=group)
    found = post.first()
    liker_id = id_of(like.get("actor"))
    if found is None or not liker_id:
        return None
    try:
        return get_or_fetch_actor(liker_id), found
    except ResolveError:
        return None


@register_handler("Announce", "Like")
@register_handler("Announce", "EmojiReact")
def handle_announce_like(activity: dict[str, Any], actor: Actor) -> None:
    """A group we belong to announces a like of a post it carries: counted here once (likes of
    posts stored here as local ones reach us directly and are not counted twice)."""
    if not _listened(actor):
        return
    _check_announce(activity, actor)
    found = _announced_like(activity, actor)
    if found is None:
        return
    liker, post = found
    like_id = str(id_of(activity.get("object")) or "")[:500]
    try:
        with transaction.atomic():
            Favourite.objects.create(actor=liker, post=post, ap_id=like_id)
    except IntegrityError:
        return  # already counted
    bump_counter(post.pk, "favourites_count", 1)


@register_handler("Announce", "Undo")
def handle_announce_undo(activity: dict[str, Any], actor: Actor) -> None:
    """A group we belong to announces the undo of a like of a post it carries."""
    if not _listened(actor):
        return
    _check_announce(activity, actor)
    undo = activity.get("object")
    if not isinstance(undo, dict):
        return
    found = _announced_like({"object": undo.get("object")}, actor)
    if found is None or id_of(undo.get("actor")) != found[0].ap_id:
        return
    liker, post = found
    if Favourite.objects.filter(actor=liker, post=post).delete()[0]:
        bump_counter(post.pk, "favourites_count", -1)

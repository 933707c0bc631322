"""Reading group posts on a member's node: who may see what a group carries, the group
timeline (local groups and remote groups known here), and the group's posts in members' home
timelines.

- Visibility (:func:`carried_visible_to`, registered with
  ``microblog.services.register_visibility_rule``): a post a group carries (a ``GroupPost``
  row: accepted from an active member and announced, or brought by the group's ``Announce``)
  is visible to the group's members: active members of our groups, accepted followers of
  remote ones. Addressing alone (``audience`` = the group) never widens visibility: any sender
  can write that field, and a non-member's post is never carried.
- Home timelines (:func:`carry_in_home`): the group "boosts" each post it carries (a boost row
  by the group actor, as Mastodon shows a Lemmy community's ``Announce``), so members see group
  posts in their home timeline without following each author. The boost is followers-only when
  the post is members-only, so only the group's accepted followers (members) get it.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from federation.models import Actor, ActorType, Follow, FollowState
from groups.models import GroupPost, Membership, MembershipState
from microblog.models import Post, Visibility
from microblog.services import register_visibility_rule
from microblog.timelines import clamp_limit, paginate_queryset

OPEN = (Visibility.PUBLIC, Visibility.UNLISTED)


def member_group_actors(viewer: Actor) -> tuple[QuerySet, QuerySet]:
    """Subqueries of the group actors ``viewer`` belongs to: (our groups where it is an active
    member, remote groups whose node accepted its follow)."""
    local = Membership.objects.filter(actor=viewer, state=MembershipState.ACTIVE).values("group__actor")
    remote = Follow.objects.filter(
        follower=viewer, state=FollowState.ACCEPTED, target__local=False, target__type=ActorType.GROUP
    ).values("target")
    return local, remote


def carried_visible_to(viewer: Actor) -> Q:
    """Posts carried by a group ``viewer`` belongs to (a ``microblog`` visibility rule)."""
    local, remote = member_group_actors(viewer)
    carried = GroupPost.objects.filter(Q(group_actor__in=local) | Q(group_actor__in=remote)).values("post")
    return Q(pk__in=carried)


register_visibility_rule(carried_visible_to)


def carry_in_home(group_actor: Actor, post: Post, ap_id: str) -> Post | None:
    """The group's boost of a post it carries (one per group and post; ``ap_id`` is the
    group's ``Announce``), so the post shows in its members' home timelines. Followers-only
    when the post is not public. Nothing is federated here (the group's announces are).
    Returns the boost row, or None for boosts, deleted posts and the group's own posts."""
    if post.reblog_of_id or post.deleted_at is not None or post.author_id == group_actor.pk or not ap_id:
        return None
    existing = Post.objects.filter(author=group_actor, reblog_of=post, deleted_at__isnull=True).first()
    if existing is not None:
        return existing
    visibility = post.visibility if post.visibility in OPEN else Visibility.PRIVATE
    try:
        with transaction.atomic():
            return Post.objects.create(
                ap_id=ap_id[:500],
                local=group_actor.local,
                author=group_actor,
                object_type="Announce",
                visibility=visibility,
                reblog_of=post,
                audience=group_actor,
                to=[group_actor.followers_url],
                published_at=post.published_at,
            )
    except IntegrityError:  # a concurrent announce stored it, or the id is taken
        return Post.objects.filter(author=group_actor, reblog_of=post, deleted_at__isnull=True).first()


def drop_from_home(group_actor: Actor, post: Post) -> None:
    """Remove the group's boost of ``post`` (the post left the group)."""
    Post.objects.filter(author=group_actor, reblog_of=post).delete()


def can_read_all(viewer: Actor | None, group_actor: Actor) -> bool:
    """True when ``viewer`` sees members-only posts of ``group_actor``: an active member of our
    group, an accepted follower of a remote one, or the group itself."""
    from groups.posts import follows_group

    return follows_group(viewer, group_actor)


def timeline(
    viewer: Actor | None,
    group_actor: Actor,
    *,
    max_id: int | str | None = None,
    since_id: int | str | None = None,
    min_id: int | str | None = None,
    limit: int | str | None = 20,
) -> list[Post]:
    """The posts ``group_actor`` carries, newest first, paginated Mastodon-style. Members see
    them all; anyone else only public and unlisted ones (a members-only group shows them
    nothing). Deleted posts and suspended authors are left out."""
    posts = Post.objects.filter(
        group_entries__group_actor=group_actor, deleted_at__isnull=True, author__suspended=False, reblog_of__isnull=True
    ).select_related("author", "audience")
    if not can_read_all(viewer, group_actor):
        posts = posts.filter(visibility__in=OPEN)
    return paginate_queryset(posts, max_id=max_id, since_id=since_id, min_id=min_id, limit=clamp_limit(limit))


def known_group(handle: str) -> Actor | None:
    """A group actor known on this node by ``name`` (ours) or ``name@domain`` (any), without
    fetching anything; None when unknown or suspended."""
    handle = handle.strip().lstrip("@")
    name, _, domain = handle.partition("@")
    if not name:
        return None
    rows = Actor.objects.filter(type=ActorType.GROUP, suspended=False, username=name)
    if not domain:
        return rows.filter(local=True).first()
    return rows.filter(domain__iexact=domain).first()

"""Slow after-commit work for posts: ``surface_*`` (notifications on this node) and
``federate_*`` (build the activity, resolve the audience to inboxes, hand it to
``federation.outbox.publish``).

Home timelines are computed at read time (``microblog.timelines``), so surfacing a post only
notifies. Who receives a post's activities:

- public, unlisted, private: the author's followers (their shared inboxes), the mentioned
  remote actors and the post's group (``audience``); for public/unlisted replies also the
  parent post's remote author (as Mastodon does);
- direct: only the mentioned remote actors.

Every function takes an id, reloads the row and checks its state, and publishes activities
with stable ids, so running one twice sends nothing new.
"""

from __future__ import annotations

from federation.models import Actor, Follow, FollowState, OutboxActivity
from federation.outbox import inboxes_for_followers, publish
from microblog.activitypub import post_to_create, post_to_delete, post_to_update
from microblog.models import Post, Visibility
from microblog.notifications import notify

OPEN = (Visibility.PUBLIC, Visibility.UNLISTED)


def _load(post_id: int) -> Post | None:
    return Post.objects.select_related("author", "in_reply_to__author", "audience").filter(pk=post_id).first()


def _sees(actor: Actor, post: Post) -> bool:
    """Whether ``actor`` may see ``post`` (the rules of ``services.visible_posts``, one row)."""
    if post.visibility in OPEN or actor.pk == post.author_id:
        return True
    if post.mentions.filter(actor=actor).exists():
        return True
    return (
        post.visibility == Visibility.PRIVATE
        and Follow.objects.filter(follower=actor, target=post.author_id, state=FollowState.ACCEPTED).exists()
    )


def may_notify(post: Post) -> bool:
    """Whether :func:`surface_post` could notify anyone for ``post``: it replies to a local
    member's post, or mentions a local member. Inbound posts that can't (most of what a hub
    relays, replies among remote people included) skip the task (bench B6)."""
    if post.in_reply_to_id is not None and Post.objects.filter(pk=post.in_reply_to_id, author__local=True).exists():
        return True
    return post.mentions.filter(actor__local=True).exists()


def surface_post(post_id: int) -> int:
    """Notify local members mentioned in the post (``mention``) and the local author of the
    parent (``mention`` when mentioned, else ``reply``, and only when the reply is visible to
    them). Returns how many notifications exist for the post afterwards; idempotent."""
    post = _load(post_id)
    if post is None or post.deleted_at is not None or post.reblog_of_id:
        return 0
    count = 0
    mentioned: set[int] = set()
    for mention in post.mentions.select_related("actor").filter(actor__local=True):
        mentioned.add(mention.actor_id)
        if notify(mention.actor, "mention", post.author, post):
            count += 1
    parent = post.in_reply_to
    if parent is not None and parent.author.local and parent.author_id not in mentioned and _sees(parent.author, post):
        if notify(parent.author, "reply", post.author, post):
            count += 1
    return count


def surface_edit(post_id: int) -> int:
    """After an edit: notify newly mentioned members, and members who boosted the post
    (``update``, as Mastodon does)."""
    count = surface_post(post_id)
    post = _load(post_id)
    if post is None or post.deleted_at is not None:
        return count
    for boost in Post.objects.filter(reblog_of=post, deleted_at__isnull=True, author__local=True).select_related(
        "author"
    ):
        if notify(boost.author, "update", post.author, post):
            count += 1
    return count


def inboxes_for_post(post: Post) -> list[str]:
    """The inboxes a local post's activities go to (see the module docstring), shared
    inboxes first, deduplicated; never an inbox of someone who may not see the post."""
    inboxes: list[str] = []
    if post.visibility != Visibility.DIRECT:
        inboxes += inboxes_for_followers(post.author)
    for mention in post.mentions.select_related("actor").filter(actor__local=False):
        inboxes.append(mention.actor.delivery_inbox)
    if post.visibility in OPEN:
        parent = post.in_reply_to
        if parent is not None and not parent.author.local:
            inboxes.append(parent.author.delivery_inbox)
    if post.visibility != Visibility.DIRECT and post.audience is not None and not post.audience.local:
        inboxes.append(post.audience.delivery_inbox)
    return list(dict.fromkeys(i for i in inboxes if i))


def _publish(post: Post, activity: dict) -> OutboxActivity:
    return publish(
        activity,
        actor=post.author,
        inboxes=inboxes_for_post(post),
        object_ap_id=post.ap_id,
        public=post.visibility in OPEN,
    )


def federate_post(post_id: int) -> OutboxActivity | None:
    """Publish the ``Create`` of a local, live post; None when there is nothing to send."""
    post = _load(post_id)
    if post is None or not post.local or post.deleted_at is not None or post.reblog_of_id:
        return None
    return _publish(post, post_to_create(post))


def federate_edit(post_id: int) -> OutboxActivity | None:
    """Publish the ``Update`` of a local post's latest edit (one per edit time)."""
    post = _load(post_id)
    if post is None or not post.local or post.deleted_at is not None or post.reblog_of_id:
        return None
    return _publish(post, post_to_update(post))


def federate_delete(post_id: int) -> OutboxActivity | None:
    """Publish the ``Delete{Tombstone}`` of a deleted local post to everyone who got it."""
    post = _load(post_id)
    if post is None or not post.local or post.deleted_at is None or post.reblog_of_id:
        return None
    return _publish(post, post_to_delete(post))

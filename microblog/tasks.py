"""Celery entry points for posts: thin, named ``microblog.<verb>``, taking ids, idempotent
(each reloads the row and checks its state; activities have stable ids)."""

from __future__ import annotations

from celery import shared_task

from microblog import effects


@shared_task(name="microblog.surface_post", ignore_result=True)
def surface_post(post_id: int) -> int:
    """Notifications for a new post (mentions, replies)."""
    return effects.surface_post(post_id)


@shared_task(name="microblog.surface_edit", ignore_result=True)
def surface_edit(post_id: int) -> int:
    """Notifications for an edited post (new mentions, boosters)."""
    return effects.surface_edit(post_id)


@shared_task(name="microblog.federate_post", ignore_result=True)
def federate_post(post_id: int) -> None:
    """Send the ``Create`` of a local post."""
    effects.federate_post(post_id)


@shared_task(name="microblog.federate_edit", ignore_result=True)
def federate_edit(post_id: int) -> None:
    """Send the ``Update`` of an edited local post."""
    effects.federate_edit(post_id)


@shared_task(name="microblog.federate_delete", ignore_result=True)
def federate_delete(post_id: int) -> None:
    """Send the ``Delete`` of a deleted local post."""
    effects.federate_delete(post_id)

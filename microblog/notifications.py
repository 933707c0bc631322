"""Notifications for local members: the single place that decides whether one is stored.

``notify`` is called by effects and inbound handlers (mentions, replies, likes, boosts,
follows, polls). It never notifies remote actors, oneself, a member who blocks or mutes (with
notifications) the sender, and stores one row per (recipient, type, sender, post).
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from federation.models import Actor, ActorBlock
from microblog.models import Mute, Notification, NotificationType, Post


def is_silenced(recipient: Actor, sender: Actor) -> bool:
    """True when ``recipient`` blocks ``sender`` (or the node does), or mutes them with
    notifications hidden and the mute has not expired."""
    if ActorBlock.objects.filter(Q(owner=recipient) | Q(owner__isnull=True), target=sender).exists():
        return True
    now = timezone.now()
    return (
        Mute.objects.filter(owner=recipient, target=sender, notifications=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .exists()
    )


def notify(recipient: Actor, type: str, from_actor: Actor, post: Post | None = None) -> Notification | None:
    """Store a notification of ``type`` (a :class:`NotificationType` value) for the local
    ``recipient``; returns it, or None when nothing is stored (remote recipient, self, blocked
    or muted sender, unknown type). Idempotent: the same notification is never stored twice."""
    if not recipient.local or recipient.pk == from_actor.pk:
        return None
    if type not in NotificationType.values:
        return None
    if is_silenced(recipient, from_actor):
        return None
    existing = Notification.objects.filter(recipient=recipient, type=type, from_actor=from_actor, post=post).first()
    if existing is not None:
        return existing
    return Notification.objects.create(recipient=recipient, type=type, from_actor=from_actor, post=post)

"""Storage of the ActivityPub layer: actors (local and remote), follows, the durable inbox,
the outbox with one delivery row per target inbox, and what we know about other domains.

Users are referenced through ``settings.AUTH_USER_MODEL``; this module imports no app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ActorType(models.TextChoices):
    PERSON = "Person"
    GROUP = "Group"
    APPLICATION = "Application"
    SERVICE = "Service"
    ORGANIZATION = "Organization"


class Actor(models.Model):
    """An ActivityPub actor. Local actors (``local=True``) own a key pair and share one
    ``username`` namespace (members, groups and the instance actor); remote actors are a cache
    of documents fetched from their origin, refreshed when stale or when a signature fails."""

    ap_id = models.URLField(max_length=500, unique=True)
    local = models.BooleanField(default=False, db_index=True)
    type = models.CharField(max_length=16, choices=ActorType.choices, default=ActorType.PERSON)
    username = models.CharField(max_length=100)
    domain = models.CharField(max_length=255, db_index=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="actor"
    )
    name = models.CharField(max_length=200, blank=True)
    summary = models.TextField(blank=True)
    icon_url = models.URLField(max_length=500, blank=True)
    url = models.URLField(max_length=500, blank=True)
    inbox_url = models.URLField(max_length=500, blank=True)
    outbox_url = models.URLField(max_length=500, blank=True)
    shared_inbox_url = models.URLField(max_length=500, blank=True)
    followers_url = models.URLField(max_length=500, blank=True)
    following_url = models.URLField(max_length=500, blank=True)
    featured_url = models.URLField(max_length=500, blank=True)
    manually_approves_followers = models.BooleanField(default=False)
    discoverable = models.BooleanField(default=True)
    public_key_id = models.URLField(max_length=500, blank=True, db_index=True)
    public_key_pem = models.TextField(blank=True)
    private_key_pem = models.TextField(blank=True)
    key_rotated_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    published_at = models.DateTimeField(default=timezone.now)
    fetched_at = models.DateTimeField(null=True, blank=True)
    suspended = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username", "domain"], name="actor_unique_handle"),
            models.UniqueConstraint(fields=["username"], condition=Q(local=True), name="actor_unique_local_name"),
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.domain}"

    @property
    def handle(self) -> str:
        """``username@domain``."""
        return f"{self.username}@{self.domain}"

    @property
    def delivery_inbox(self) -> str:
        """Where to deliver public activities: the shared inbox if there is one."""
        return self.shared_inbox_url or self.inbox_url


class FollowState(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Follow(models.Model):
    """``follower`` follows ``target`` (either may be local or remote)."""

    follower = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="following_rel")
    target = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="followers_rel")
    ap_id = models.URLField(max_length=500, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=FollowState.choices, default=FollowState.PENDING)
    state_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["follower", "target"], name="follow_unique_pair")]
        indexes = [models.Index(fields=["target", "state"]), models.Index(fields=["follower", "state"])]

    def __str__(self) -> str:
        return f"follow {self.follower_id} -> {self.target_id} ({self.state})"


class InboxItemState(models.TextChoices):
    RECEIVED = "received"
    PROCESSED = "processed"
    REJECTED = "rejected"
    FAILED = "failed"


class InboxItem(models.Model):
    """A verified inbound activity, stored before the 202 is sent and processed by a worker.

    ``activity_id`` is unique: a replay is acknowledged and dropped."""

    activity_id = models.URLField(max_length=500, unique=True)
    activity_type = models.CharField(max_length=64, blank=True)
    actor_id = models.URLField(max_length=500)
    domain = models.CharField(max_length=255, db_index=True)
    recipient = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    state = models.CharField(max_length=16, choices=InboxItemState.choices, default=InboxItemState.RECEIVED)
    state_changed_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.activity_type} {self.activity_id} ({self.state})"


class OutboxActivity(models.Model):
    """An activity this node published, stored with a stable id before any delivery."""

    ap_id = models.URLField(max_length=500, unique=True)
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="outbox")
    type = models.CharField(max_length=64)
    object_ap_id = models.URLField(max_length=500, blank=True, db_index=True)
    body = models.JSONField()
    public = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.type} {self.ap_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Delivery(models.Model):
    """One POST of one activity to one inbox (shared inboxes deduplicated per host)."""

    activity = models.ForeignKey(OutboxActivity, on_delete=models.CASCADE, related_name="deliveries")
    inbox_url = models.URLField(max_length=500)
    domain = models.CharField(max_length=255, db_index=True)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    state_changed_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["activity", "inbox_url"], name="delivery_unique_inbox")]
        indexes = [models.Index(fields=["state", "next_attempt_at"]), models.Index(fields=["domain", "state"])]

    def __str__(self) -> str:
        return f"{self.inbox_url} ({self.state})"


class Domain(models.Model):
    """What this node knows about another domain: policy, health and protocol choices."""

    host = models.CharField(max_length=255, unique=True)
    blocked = models.BooleanField(default=False)
    block_reason = models.TextField(blank=True)
    software = models.CharField(max_length=100, blank=True)  # NodeInfo software.name (federation.software)
    software_checked_at = models.DateTimeField(null=True, blank=True)
    signature_scheme = models.CharField(max_length=16, default="cavage")
    consecutive_failures = models.PositiveIntegerField(default=0)
    unreachable_since = models.DateTimeField(null=True, blank=True)
    # Delivery health (federation.delivery): start of the current failure streak, and when an
    # unreachable domain may be probed next.
    failing_since = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.host


class ActorBlock(models.Model):
    """A local actor (or, with ``owner`` empty, the whole node) refuses another actor."""

    owner = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.CASCADE, related_name="blocks")
    target = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="blocked_by")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "target"], name="actorblock_unique")]

    def __str__(self) -> str:
        return f"block {self.owner_id} -> {self.target_id}"

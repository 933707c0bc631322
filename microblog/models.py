"""Microblog storage: posts (local and remote, boosts included), edits, mentions, hashtags,
media, polls, interactions, notifications and read markers.

Actors are ``federation.Actor`` rows (members are local Person actors). No side effects here:
services write, effects surface and federate.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from federation.models import Actor


class Visibility(models.TextChoices):
    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"  # followers only
    DIRECT = "direct"  # mentioned accounts only


class Post(models.Model):
    """A status: a ``Note`` (or ``Question`` for polls, ``Page``/``Article`` from other servers),
    or a boost (``reblog_of`` set, no content of its own). Deleted posts keep a tombstone row
    (``deleted_at``) so a late ``Create`` for the same id is not resurrected."""

    ap_id = models.URLField(max_length=500, unique=True)
    url = models.URLField(max_length=500, blank=True)
    local = models.BooleanField(default=False)
    author = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="posts")
    object_type = models.CharField(max_length=32, default="Note")
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC)
    content = models.TextField(blank=True)  # sanitised HTML, safe to render
    source = models.TextField(blank=True)  # what a local author typed (plain text)
    summary = models.CharField(max_length=1000, blank=True)  # content warning
    sensitive = models.BooleanField(default=False)
    language = models.CharField(max_length=16, blank=True)
    content_map = models.JSONField(default=dict, blank=True)  # language -> sanitised HTML
    name = models.CharField(max_length=500, blank=True)  # title of Page/Article/Event
    in_reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    in_reply_to_ap_id = models.URLField(max_length=500, blank=True)
    conversation = models.CharField(max_length=500, blank=True)  # AS2 ``context``
    reblog_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="reblogs")
    audience = models.ForeignKey(  # the group a post is addressed to (groups issue)
        Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="audience_posts"
    )
    to = models.JSONField(default=list, blank=True)  # addressing as published (ids)
    cc = models.JSONField(default=list, blank=True)
    replies_count = models.PositiveIntegerField(default=0)
    reblogs_count = models.PositiveIntegerField(default=0)
    favourites_count = models.PositiveIntegerField(default=0)
    published_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["author", "-id"], name="post_author_recent"),
            models.Index(fields=["visibility", "local", "-id"], name="post_public_recent"),
            models.Index(fields=["in_reply_to"], name="post_replies"),
            # Replies stored before their parent, adopted when it arrives (``_link_thread``): one
            # lookup per stored post, a sequential scan of every post without this (bench B6).
            models.Index(
                fields=["in_reply_to_ap_id"],
                name="post_orphan_replies",
                condition=Q(in_reply_to__isnull=True) & ~Q(in_reply_to_ap_id=""),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "reblog_of"],
                condition=Q(reblog_of__isnull=False, deleted_at__isnull=True),
                name="post_one_boost_per_author",
            ),
        ]

    def __str__(self) -> str:
        return self.ap_id


class PostEdit(models.Model):
    """A previous version of an edited post (edit history)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="edits")
    content = models.TextField(blank=True)
    summary = models.CharField(max_length=1000, blank=True)
    sensitive = models.BooleanField(default=False)
    media_descriptions = models.JSONField(default=list, blank=True)
    poll_options = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"edit of {self.post_id} at {self.created_at:%Y-%m-%d %H:%M}"


class Mention(models.Model):
    """An actor mentioned in a post (also the audience of a direct post)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="mentions")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="mentioned_in")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "actor"], name="mention_unique")]

    def __str__(self) -> str:
        return f"{self.actor_id} in {self.post_id}"


class Hashtag(models.Model):
    """A hashtag, stored lower-cased (``name`` without ``#``)."""

    name = models.CharField(max_length=100, unique=True)
    posts = models.ManyToManyField(Post, related_name="hashtags", blank=True)

    def __str__(self) -> str:
        return f"#{self.name}"


class Media(models.Model):
    """An attachment: a local upload (``file`` with ``thumbnail``) or a remote one (``remote_url``)."""

    owner = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="media")
    post = models.ForeignKey(Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="media")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, default="image")  # image | video | audio | unknown
    mime_type = models.CharField(max_length=100, blank=True)
    file = models.FileField(upload_to="media/%Y/%m/", blank=True)
    thumbnail = models.FileField(upload_to="media/%Y/%m/thumbs/", blank=True)
    remote_url = models.URLField(max_length=500, blank=True)
    description = models.TextField(blank=True, max_length=1500)  # alt text
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    blurhash = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"media {self.pk} ({self.mime_type})"


class Poll(models.Model):
    """A poll attached to a post (the post is a ``Question``)."""

    post = models.OneToOneField(Post, on_delete=models.CASCADE, related_name="poll")
    multiple = models.BooleanField(default=False)  # anyOf instead of oneOf
    expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    voters_count = models.PositiveIntegerField(default=0)
    secret = models.BooleanField(default=False)  # groups: who voted is kept, not what

    def __str__(self) -> str:
        return f"poll of {self.post_id}"

    @property
    def expired(self) -> bool:
        return self.closed_at is not None or (self.expires_at is not None and self.expires_at <= timezone.now())


class PollOption(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="options")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    votes_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["poll", "position"], name="polloption_unique_position")]

    def __str__(self) -> str:
        return self.title


class PollVote(models.Model):
    """One choice of one voter (a multiple-choice vote is several rows)."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="votes")
    option = models.ForeignKey(PollOption, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="poll_votes")
    ap_id = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["poll", "option", "voter"], name="pollvote_unique")]

    def __str__(self) -> str:
        return f"{self.voter_id} -> {self.option_id}"


class Favourite(models.Model):
    """A like (``Like``)."""

    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="favourites")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="favourites")
    ap_id = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["actor", "post"], name="favourite_unique")]

    def __str__(self) -> str:
        return f"{self.actor_id} likes {self.post_id}"


class Bookmark(models.Model):
    """A member's private bookmark (never federated)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookmarks")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "post"], name="bookmark_unique")]

    def __str__(self) -> str:
        return f"bookmark {self.user_id} {self.post_id}"


class Pin(models.Model):
    """A post pinned to its author's profile (the ``featured`` collection)."""

    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="pins")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["actor", "post"], name="pin_unique")]

    def __str__(self) -> str:
        return f"pin {self.actor_id} {self.post_id}"


class Mute(models.Model):
    """A member hides another actor's posts (and optionally notifications) from their timelines."""

    owner = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="mutes")
    target = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="muted_by")
    notifications = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "target"], name="mute_unique")]

    def __str__(self) -> str:
        return f"mute {self.owner_id} -> {self.target_id}"


class NotificationType(models.TextChoices):
    MENTION = "mention"
    REPLY = "reply"  # Mastodon reports replies as "mention"; kept apart for filtering
    FOLLOW = "follow"
    FOLLOW_REQUEST = "follow_request"
    FAVOURITE = "favourite"
    REBLOG = "reblog"
    POLL = "poll"
    UPDATE = "update"
    STATUS = "status"


class Notification(models.Model):
    """Something that happened to a local member."""

    recipient = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="notifications")
    type = models.CharField(max_length=32, choices=NotificationType.choices)
    from_actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["recipient", "-id"], name="notification_recent")]

    def __str__(self) -> str:
        return f"{self.type} for {self.recipient_id}"


class Marker(models.Model):
    """Read position of a member in a timeline (``home``, ``notifications``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="markers")
    timeline = models.CharField(max_length=32)
    last_read_id = models.CharField(max_length=32)
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "timeline"], name="marker_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.timeline}={self.last_read_id}"


class ApiApplication(models.Model):
    """What a Mastodon client registered with ``POST /api/v1/apps`` beyond django-oauth-toolkit's
    ``Application`` row (name, client id/secret, redirect URIs live there): its website and the
    scopes its tokens may carry."""

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="mastodon"
    )
    website = models.URLField(max_length=500, blank=True)
    scopes = models.CharField(max_length=1000, default="read")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"app {self.application_id} ({self.scopes})"

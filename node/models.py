"""Accounts of this node's members (real-name) and operators (Django staff)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

USERNAME_RE = r"^[a-z0-9_]{1,30}$"
username_validator = RegexValidator(
    USERNAME_RE,
    _("Use 1-30 characters: lower-case letters a-z, digits and underscores."),
)


class User(AbstractUser):
    """A member of this node. ``username`` shares one namespace with groups (see federation actors).

    ``real_name`` is private: shown only to the member, operators and (later) group officers.
    """

    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]

    username = models.CharField(
        _("username"),
        max_length=30,
        unique=True,
        validators=[username_validator],
        help_text=_("1-30 characters: lower-case letters a-z, digits and underscores."),
        error_messages={"unique": _("That name is already taken.")},
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    real_name = models.CharField(_("real name"), max_length=100, blank=True)
    email = models.EmailField(_("email address"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    avatar = models.ImageField(_("avatar"), upload_to="avatars/", blank=True)
    bio = models.TextField(_("bio"), blank=True, max_length=5000)
    language = models.CharField(_("language"), max_length=16, default="zh-hans")
    awaiting_approval = models.BooleanField(
        _("awaiting approval"),
        default=False,
        help_text=_("Signed up on a node with approval registration; inactive until an operator approves."),
    )

    objects: ClassVar[UserManager] = UserManager()

    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")

    def __str__(self) -> str:
        return self.username

    @property
    def shown_name(self) -> str:
        """The public name: the display name, or the username when none is set."""
        return self.display_name or self.username


def _new_invite_code() -> str:
    return secrets.token_urlsafe(16)


class Invite(models.Model):
    """An invitation link (``/accounts/signup?invite=<code>``) usable ``max_uses`` times until ``expires_at``."""

    code = models.CharField(_("code"), max_length=64, unique=True, default=_new_invite_code)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invites", verbose_name=_("created by")
    )
    max_uses = models.PositiveIntegerField(_("maximum uses"), default=1)
    uses = models.PositiveIntegerField(_("uses"), default=0)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("invite")
        verbose_name_plural = _("invites")

    def __str__(self) -> str:
        return self.code

    def is_usable(self, now: datetime | None = None) -> bool:
        """True when the invite has uses left and has not expired."""
        now = now or timezone.now()
        if self.uses >= self.max_uses:
            return False
        return self.expires_at is None or self.expires_at > now


# ---------------------------------------------------------------- hub
# The node hierarchy (issue 6, owned by node/hub*.py). One row per neighbouring node: our parent
# hub (direction "parent": our instance actor follows its instance actor) or one of our children
# (direction "child": its instance actor follows ours). Relay subscribers that are plain
# ActivityPub servers (Mastodon/Pleroma relay convention) are children with ``kind="relay"``.


class RelationDirection(models.TextChoices):
    PARENT = "parent", _("parent")
    CHILD = "child", _("child")


class RelationState(models.TextChoices):
    PENDING = "pending", _("pending")
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")
    LEFT = "left", _("left")


class RelationKind(models.TextChoices):
    NODE = "node", _("Redcloud node")
    RELAY = "relay", _("relay subscriber")


class NodeRelation(models.Model):
    """This node's link to a neighbouring node in the hierarchy, seen from this side.

    ``actor`` is the other node's instance actor; ``direction`` says whether it is our parent or
    our child. ``since`` is when the relation was last accepted; ``last_seen_at`` is the last time
    an activity from that node arrived (kept up to date by the hub's inbound handlers).
    At most one relation with ``direction="parent"`` is pending or accepted at a time.
    """

    actor = models.ForeignKey(
        "federation.Actor", on_delete=models.CASCADE, related_name="node_relations", verbose_name=_("instance actor")
    )
    direction = models.CharField(_("direction"), max_length=8, choices=RelationDirection.choices)
    state = models.CharField(_("state"), max_length=10, choices=RelationState.choices, default=RelationState.PENDING)
    kind = models.CharField(_("kind"), max_length=8, choices=RelationKind.choices, default=RelationKind.NODE)
    domain = models.CharField(_("domain"), max_length=255, db_index=True)
    base_url = models.URLField(_("base URL"), max_length=500, blank=True)
    follow_ap_id = models.URLField(_("follow activity id"), max_length=500, blank=True)
    # From the other node's NodeInfo metadata, refreshed on join / approval.
    node_name = models.CharField(_("node name"), max_length=200, blank=True)
    node_role = models.CharField(_("role"), max_length=16, blank=True)
    region_code = models.CharField(_("region code"), max_length=6, blank=True)
    software_version = models.CharField(_("software version"), max_length=50, blank=True)
    parent_url = models.URLField(_("its parent"), max_length=500, blank=True)
    # Hosts above the other node (its parent, grandparent...), nearest first: the cycle check.
    ancestors = models.JSONField(_("its ancestors"), default=list, blank=True)
    since = models.DateTimeField(_("since"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    state_changed_at = models.DateTimeField(_("state changed"), default=timezone.now)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("node relation")
        verbose_name_plural = _("node relations")
        constraints = [
            models.UniqueConstraint(fields=["actor", "direction"], name="noderelation_unique_actor_direction"),
        ]
        indexes = [models.Index(fields=["direction", "state"])]

    def __str__(self) -> str:
        return f"{self.direction} {self.domain} ({self.state})"


class RelayedObject(models.Model):
    """An object this node received through the relay (deduplicated by the original's id).

    ``object_ap_id`` is the original object's id at its origin; ``via`` is the child node that
    relayed it first. A second relay of the same id is acknowledged and dropped.
    """

    object_ap_id = models.URLField(_("object id"), max_length=500, unique=True)
    object_type = models.CharField(_("object type"), max_length=32, blank=True)
    # The origin's ``updated`` (or ``published``) of the version we have, and whether the origin
    # answered 404/410: a relay of an unchanged object is dropped, a changed one passed on.
    version = models.CharField(_("version"), max_length=64, blank=True)
    deleted = models.BooleanField(_("deleted"), default=False)
    origin_domain = models.CharField(_("origin"), max_length=255, db_index=True)
    via = models.ForeignKey(
        NodeRelation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("via")
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("relayed object")
        verbose_name_plural = _("relayed objects")

    def __str__(self) -> str:
        return self.object_ap_id


# ---------------------------------------------------------------- statistics (node/stats.py)
# One statistics report per node and period (a day): this node's own (``direction=sent``,
# computed here and sent to the parent) or a child's (``direction=received``, from the child's
# signed ``Create``/``Update`` of a ``redcloud:StatisticsReport``). Re-sending replaces the row.


class StatsDirection(models.TextChoices):
    SENT = "sent", _("sent")
    RECEIVED = "received", _("received")


class StatsReport(models.Model):
    """The statistics document of one node for one day; ``payload`` is the report object as sent."""

    node_domain = models.CharField(_("node domain"), max_length=255, db_index=True)
    period = models.DateField(_("period"))
    direction = models.CharField(_("direction"), max_length=16, choices=StatsDirection.choices)
    ap_id = models.URLField(_("report id"), max_length=500, blank=True)
    sender_ap_id = models.URLField(_("sender"), max_length=500, blank=True)
    payload = models.JSONField(_("payload"), default=dict)
    signature_verified = models.BooleanField(_("signature verified"), default=False)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("statistics report")
        verbose_name_plural = _("statistics reports")
        constraints = [
            models.UniqueConstraint(fields=["node_domain", "period", "direction"], name="stats_report_unique")
        ]
        ordering = ["-period", "node_domain"]

    def __str__(self) -> str:
        return f"{self.node_domain} {self.period} ({self.direction})"

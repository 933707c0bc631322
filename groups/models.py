"""Groups ("virtual branches"): federated ``Group`` actors with members on any node, roles,
and the branch's records (events, meetings, dues, transfers: added by their modules).

Private records (real names, dues, minutes) never leave the node except to the members and
officers entitled to them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from federation.models import Actor


class Group(models.Model):
    """A local group; its ActivityPub identity is ``actor`` (type ``Group``, shared name space)."""

    actor = models.OneToOneField(Actor, on_delete=models.CASCADE, related_name="group")
    kind = models.CharField(max_length=32, default="branch")  # one of settings.GROUPS_KINDS
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    description = models.TextField(blank=True)
    members_only = models.BooleanField(default=True)  # posts visible to members only unless made public
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.actor.username


class MembershipState(models.TextChoices):
    PENDING = "pending"  # asked to join (Follow/Join), waiting for an officer
    INVITED = "invited"  # an officer invited, waiting for the member
    ACTIVE = "active"
    REJECTED = "rejected"
    LEFT = "left"
    REMOVED = "removed"
    TRANSFERRED_OUT = "transferred_out"


class Membership(models.Model):
    """An actor (local or remote) in a group, with a role (one of settings.GROUPS_ROLES)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="group_memberships")
    role = models.CharField(max_length=32, default="member")
    state = models.CharField(max_length=20, choices=MembershipState.choices, default=MembershipState.PENDING)
    state_changed_at = models.DateTimeField(default=timezone.now)
    joined_at = models.DateTimeField(null=True, blank=True)  # first became active (kept across transfers)
    request_ap_id = models.URLField(max_length=500, blank=True)  # the Follow/Join that asked
    real_name_verified = models.BooleanField(default=False)
    verified_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    history = models.JSONField(default=list, blank=True)  # roles held, transfers (carried across nodes)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "actor"], name="membership_unique")]
        indexes = [models.Index(fields=["group", "state"]), models.Index(fields=["actor", "state"])]

    def __str__(self) -> str:
        return f"{self.actor_id} in {self.group_id} ({self.role}, {self.state})"

    @property
    def active(self) -> bool:
        return self.state == MembershipState.ACTIVE


ACTIVE = Q(state=MembershipState.ACTIVE)

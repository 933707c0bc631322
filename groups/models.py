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


# --- G3 events (groups/events.py, groups/events_ap.py, groups/ical.py) ---------------------
_now = timezone.now  # Event has a field named ``timezone``, which hides the module in its body


class EventJoinMode(models.TextChoices):
    FREE = "free"  # RSVPs accepted at once while seats remain
    RESTRICTED = "restricted"  # RSVPs wait for an officer
    INVITE = "invite"  # only officers add participants; RSVPs are rejected


class EventStatus(models.TextChoices):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class EventVisibility(models.TextChoices):
    PUBLIC = "public"
    MEMBERS = "members"


class Event(models.Model):
    """A group's event (Mobilizon's ``Event``): local (ours) or remote (another group's)."""

    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    group_actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="group_events")
    ap_id = models.URLField(max_length=500, unique=True)
    url = models.URLField(max_length=500, blank=True)
    local = models.BooleanField(default=True, db_index=True)
    organizer = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=300)
    content = models.TextField(blank=True)  # sanitised HTML
    start_at = models.DateTimeField(db_index=True)
    end_at = models.DateTimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")  # IANA name
    location_name = models.CharField(max_length=300, blank=True)
    street = models.CharField(max_length=300, blank=True)
    locality = models.CharField(max_length=200, blank=True)
    region = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=100, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    online_url = models.URLField(max_length=500, blank=True)  # video meeting link
    join_mode = models.CharField(max_length=16, choices=EventJoinMode.choices, default=EventJoinMode.FREE)
    max_capacity = models.PositiveIntegerField(null=True, blank=True)  # None = unlimited
    remote_participant_count = models.PositiveIntegerField(default=0)  # as announced by a remote group
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.CONFIRMED)
    visibility = models.CharField(max_length=16, choices=EventVisibility.choices, default=EventVisibility.PUBLIC)
    created_at = models.DateTimeField(default=_now)
    updated_at = models.DateTimeField(default=_now)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["group_actor", "start_at"])]

    def __str__(self) -> str:
        return self.name


class ParticipationState(models.TextChoices):
    PENDING = "pending"
    TENTATIVE = "tentative"  # Smithereen's TentativeJoin ("maybe")
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    LEFT = "left"


class ParticipationRole(models.TextChoices):
    PARTICIPANT = "participant"
    ORGANIZER = "organizer"


class EventParticipation(models.Model):
    """One actor's RSVP to an event (the ``Join`` it sent or we sent on its behalf)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="participations")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="event_participations")
    state = models.CharField(max_length=16, choices=ParticipationState.choices, default=ParticipationState.PENDING)
    role = models.CharField(max_length=16, choices=ParticipationRole.choices, default=ParticipationRole.PARTICIPANT)
    join_ap_id = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=_now)
    updated_at = models.DateTimeField(default=_now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "actor"], name="event_participation_unique")]
        indexes = [models.Index(fields=["event", "state"])]

    def __str__(self) -> str:
        return f"{self.actor_id} → {self.event_id} ({self.state})"


class CalendarToken(models.Model):
    """A member's secret for the private calendar feed of a group (calendar apps can't log in)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=_now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "actor"], name="calendar_token_unique")]

    def __str__(self) -> str:
        return f"calendar token of {self.actor_id} for {self.group_id}"


# --- end G3 events ---------------------------------------------------------------------------


# ---------------------------------------------------------------- G4 records/dues/transfers
# Meeting records, dues records and transfers between groups (groups/records.py, dues.py,
# transfers.py). Minutes and dues never leave the node; a transfer's Offer carries only the
# membership record (join date, roles held, verification flag, dues paid up to).


class Meeting(models.Model):
    """A meeting of a local group ("three meetings and one lesson"); members-only."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="meetings")
    kind = models.CharField(max_length=32)  # one of settings.GROUPS_MEETING_KINDS
    title = models.CharField(max_length=200, blank=True)
    held_on = models.DateField()
    place = models.CharField(max_length=200, blank=True)
    topics = models.JSONField(default=list, blank=True)  # list of short strings
    minutes = models.TextField(blank=True)  # plain text, sanitised on write
    event_ap_id = models.URLField(max_length=500, blank=True)  # the Event that announced it, if any
    created_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["group", "held_on"])]
        ordering = ["-held_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.held_on} ({self.group_id})"


class MeetingAttendance(models.Model):
    """One member's presence at a meeting, or absence with a reason."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendance")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")
    present = models.BooleanField(default=True)
    reason = models.CharField(max_length=200, blank=True)  # why absent

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "actor"], name="meeting_attendance_unique")]

    def __str__(self) -> str:
        return f"{self.actor_id} at {self.meeting_id} ({'present' if self.present else 'absent'})"


class MeetingAttachment(models.Model):
    """A file attached to a meeting record (type and size checked by groups.records)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="records/%Y/%m/")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class DuesRecord(models.Model):
    """Dues of one member for one month (``YYYY-MM``): record-keeping only."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="dues")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")
    month = models.CharField(max_length=7)
    amount_due = models.DecimalField(max_digits=10, decimal_places=2)
    amount_paid = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    paid_on = models.DateField(null=True, blank=True)
    method = models.CharField(max_length=32, blank=True)
    note = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "actor", "month"], name="dues_unique_member_month")]
        ordering = ["-month", "pk"]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.month}: {self.amount_paid}/{self.amount_due}"


class TransferState(models.TextChoices):
    REQUESTED = "requested"  # waiting for the source group's officers
    OFFERED = "offered"  # source approved; the Offer waits for the target group's officers
    ACCEPTED = "accepted"  # done: member of the target, transferred_out of the source
    REJECTED = "rejected"  # refused by the target group; still a member of the source
    DECLINED = "declined"  # refused by the source group's officers
    CANCELLED = "cancelled"  # withdrawn before the source approved


class Transfer(models.Model):
    """A member's move from one group to another; either group may be remote (then only the
    local side's view is stored here). ``offer_ap_id`` is the Offer's id on both nodes."""

    member = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")  # group actor X
    target = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")  # group actor Y
    state = models.CharField(max_length=16, choices=TransferState.choices, default=TransferState.REQUESTED)
    state_changed_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    record = models.JSONField(default=dict, blank=True)  # the membership record carried
    requested_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    offer_ap_id = models.URLField(max_length=500, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["member", "state"])]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"transfer {self.member_id} {self.source_id}->{self.target_id} ({self.state})"


# --- G2 group posts (groups/posts.py) --------------------------------------------------------
class GroupPost(models.Model):
    """A post a group carries: for a local group, one it accepted from an active member and
    announced; for a remote group, one its ``Announce`` brought here. The group timeline is
    made of these rows (a non-member's post addressed to the group never gets one)."""

    group_actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="group_posts")
    post = models.ForeignKey("microblog.Post", on_delete=models.CASCADE, related_name="group_entries")
    announce_ap_id = models.URLField(max_length=500, blank=True)  # the group's Announce
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group_actor", "post"], name="grouppost_unique")]
        indexes = [models.Index(fields=["group_actor", "post"])]

    def __str__(self) -> str:
        return f"{self.post_id} in {self.group_actor_id}"


# --- end G2 group posts ----------------------------------------------------------------------

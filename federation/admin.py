"""Admin for the federation layer: actors, follows, inbox, outbox and deliveries, domains, blocks.

Private keys are never shown or editable here.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from federation.models import (
    Actor,
    ActorBlock,
    Delivery,
    DeliveryState,
    Domain,
    Follow,
    InboxItem,
    OutboxActivity,
)
from federation.policy import block_domain, unblock_domain


@admin.register(Actor)
class ActorAdmin(admin.ModelAdmin):
    list_display = ("username", "domain", "type", "local", "name", "suspended", "fetched_at")
    list_filter = ("local", "type", "suspended")
    search_fields = ("username", "domain", "name", "ap_id")
    raw_id_fields = ("user",)
    exclude = ("private_key_pem",)
    readonly_fields = (
        "ap_id",
        "local",
        "public_key_id",
        "public_key_pem",
        "key_rotated_at",
        "fetched_at",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Actors come from services (members, groups) or from fetching; never typed in by hand."""
        return False


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("follower", "target", "state", "state_changed_at", "created_at")
    list_filter = ("state",)
    search_fields = ("follower__username", "target__username", "ap_id")
    raw_id_fields = ("follower", "target")
    list_select_related = ("follower", "target")


@admin.register(InboxItem)
class InboxItemAdmin(admin.ModelAdmin):
    list_display = ("activity_type", "activity_id", "domain", "state", "attempts", "received_at")
    list_filter = ("state", "activity_type")
    search_fields = ("activity_id", "actor_id", "domain")
    raw_id_fields = ("recipient",)
    readonly_fields = ("activity_id", "activity_type", "actor_id", "domain", "body", "received_at")
    date_hierarchy = "received_at"


@admin.register(OutboxActivity)
class OutboxActivityAdmin(admin.ModelAdmin):
    list_display = ("type", "ap_id", "actor", "public", "created_at")
    list_filter = ("type", "public")
    search_fields = ("ap_id", "object_ap_id", "actor__username")
    raw_id_fields = ("actor",)
    list_select_related = ("actor",)
    date_hierarchy = "created_at"


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("inbox_url", "domain", "state", "attempts", "last_status", "next_attempt_at", "delivered_at")
    list_filter = ("state",)
    search_fields = ("inbox_url", "domain", "activity__ap_id")
    raw_id_fields = ("activity",)
    actions = ("retry_now",)

    @admin.action(description=_("Retry now"))
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """Make the chosen deliveries pending and due now; the delivery sweeper sends them."""
        now = timezone.now()
        count = queryset.exclude(state=DeliveryState.DELIVERED).update(
            state=DeliveryState.PENDING, next_attempt_at=now, state_changed_at=now
        )
        self.message_user(
            request,
            ngettext("%(count)d delivery scheduled.", "%(count)d deliveries scheduled.", count) % {"count": count},
            messages.SUCCESS,
        )


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("host", "blocked", "software", "consecutive_failures", "unreachable_since", "last_success_at")
    list_filter = ("blocked", "software")
    search_fields = ("host", "block_reason")
    actions = ("block", "unblock")

    @admin.action(description=_("Block selected domains"))
    def block(self, request: HttpRequest, queryset: QuerySet[Domain]) -> None:
        hosts = list(queryset.values_list("host", flat=True))
        for host in hosts:
            block_domain(host, reason="blocked in the admin")
        count = len(hosts)
        self.message_user(
            request, ngettext("%(count)d domain blocked.", "%(count)d domains blocked.", count) % {"count": count}
        )

    @admin.action(description=_("Unblock selected domains"))
    def unblock(self, request: HttpRequest, queryset: QuerySet[Domain]) -> None:
        count = sum(unblock_domain(host) for host in queryset.values_list("host", flat=True))
        self.message_user(
            request, ngettext("%(count)d domain unblocked.", "%(count)d domains unblocked.", count) % {"count": count}
        )


@admin.register(ActorBlock)
class ActorBlockAdmin(admin.ModelAdmin):
    list_display = ("owner", "target", "created_at")
    search_fields = ("owner__username", "target__username", "target__domain")
    raw_id_fields = ("owner", "target")
    list_select_related = ("owner", "target")

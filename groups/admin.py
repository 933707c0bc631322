"""Operator views of groups and memberships (read-mostly: changes go through the services/CLI)."""

from django.contrib import admin

from groups.models import Group, Membership


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("actor", "kind", "parent", "members_only", "created_at")
    list_filter = ("kind", "members_only")
    search_fields = ("actor__username", "actor__name", "description")
    raw_id_fields = ("actor", "parent")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("actor", "group", "role", "state", "joined_at", "real_name_verified")
    list_filter = ("state", "role", "real_name_verified")
    search_fields = ("actor__username", "actor__domain", "group__actor__username")
    raw_id_fields = ("group", "actor", "verified_by")
    readonly_fields = ("history", "request_ap_id")

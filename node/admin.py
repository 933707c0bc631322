"""Admin for members and invites. Adding a member goes through :func:`node.accounts.create_member`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from node.accounts import AccountError, approve_member, check_username, create_invite, create_member
from node.models import Invite, NodeRelation, RelayedObject, User

admin.site.site_header = _("Redcloud node administration")
admin.site.site_title = _("Redcloud administration")


class MemberCreationForm(AdminUserCreationForm):
    """The admin's "add member" form; the name is checked against members, groups and reserved names."""

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "display_name", "real_name", "email", "phone")

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username") or ""
        try:
            check_username(username)
        except AccountError as exc:
            raise forms.ValidationError(exc.message)
        return username


@admin.register(User)
class MemberAdmin(UserAdmin):
    add_form = MemberCreationForm
    list_display = (
        "username",
        "display_name",
        "real_name",
        "is_staff",
        "is_active",
        "awaiting_approval",
        "date_joined",
    )
    list_filter = ("awaiting_approval", "is_active", "is_staff", "is_superuser")
    search_fields = ("username", "display_name", "real_name", "email", "phone")
    ordering = ("username",)
    actions = ("approve_selected",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Profile"), {"fields": ("display_name", "real_name", "email", "phone", "avatar", "bio", "language")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "awaiting_approval", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "display_name",
                    "real_name",
                    "email",
                    "phone",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Adding goes through ``create_member`` so the member's federation actor exists too."""
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        password = data.get("password1") if data.get("set_usable_password", True) else None
        user = create_member(
            data["username"],
            display_name=data.get("display_name", ""),
            real_name=data.get("real_name", ""),
            email=data.get("email", ""),
            phone=data.get("phone", ""),
            password=password or None,
            language=settings.LANGUAGE_CODE,
        )
        # The admin goes on with ``obj`` (log entry, redirect, m2m): make it the stored row.
        obj.pk = user.pk
        obj.password = user.password
        obj.date_joined = user.date_joined
        obj._state.adding = False
        obj._state.db = user._state.db

    @admin.action(description=_("Approve selected members"))
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = 0
        for user in queryset:
            approve_member(user)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d member approved.", "%(count)d members approved.", count) % {"count": count},
            messages.SUCCESS,
        )


class InviteAdminForm(forms.ModelForm):
    max_uses = forms.IntegerField(label=_("maximum uses"), min_value=1, initial=1)

    class Meta:
        model = Invite
        fields = ("max_uses", "expires_at")


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    form = InviteAdminForm
    list_display = ("code", "created_by", "uses", "max_uses", "expires_at", "created_at", "usable")
    list_filter = ("expires_at",)
    search_fields = ("code", "created_by__username")
    readonly_fields = ("code", "link", "created_by", "uses", "created_at")
    fields = ("link", "code", "max_uses", "uses", "expires_at", "created_by", "created_at")

    @admin.display(boolean=True, description=_("usable"))
    def usable(self, obj: Invite) -> bool:
        return obj.is_usable()

    @admin.display(description=_("invitation link"))
    def link(self, obj: Invite) -> str:
        if not obj.pk:
            return "—"
        return f"{settings.NODE_BASE_URL}{reverse('signup')}?invite={obj.code}"

    def save_model(self, request: HttpRequest, obj: Invite, form: Any, change: bool) -> None:
        """New invites come from ``create_invite`` (created by the operator who adds them)."""
        if change:
            super().save_model(request, obj, form, change)
            return
        invite = create_invite(
            request.user if isinstance(request.user, User) else None,
            max_uses=obj.max_uses,
            expires_at=obj.expires_at,
        )
        obj.pk = invite.pk
        obj.code = invite.code
        obj.created_by = invite.created_by
        obj.expires_at = invite.expires_at
        obj.created_at = invite.created_at
        obj._state.adding = False
        obj._state.db = invite._state.db


# ---------------------------------------------------------------- hub (node/hub.py)


@admin.register(NodeRelation)
class NodeRelationAdmin(admin.ModelAdmin):
    """Parent and children of this node; pending children are approved or refused through
    ``node.hub`` (which sends the ``Accept``/``Reject``), never by editing the state."""

    list_display = ("domain", "direction", "kind", "state", "node_name", "node_role", "since", "last_seen_at")
    list_filter = ("direction", "kind", "state")
    search_fields = ("domain", "node_name")
    readonly_fields = [f.name for f in NodeRelation._meta.fields]
    actions = ("approve_children", "reject_children")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Approve the selected child nodes"))
    def approve_children(self, request: HttpRequest, queryset: Any) -> None:
        from node import hub

        done = 0
        for rel in queryset.filter(direction="child").select_related("actor"):
            try:
                hub.approve_child(rel)
                done += 1
            except hub.HubError as exc:
                self.message_user(request, f"{rel.domain}: {exc}", level=messages.ERROR)
        self.message_user(request, _("%(n)d child node(s) approved.") % {"n": done})

    @admin.action(description=_("Refuse or remove the selected child nodes"))
    def reject_children(self, request: HttpRequest, queryset: Any) -> None:
        from node import hub

        rows = list(queryset.filter(direction="child").select_related("actor"))
        for rel in rows:
            hub.reject_child(rel)
        self.message_user(request, _("%(n)d child node(s) refused.") % {"n": len(rows)})


@admin.register(RelayedObject)
class RelayedObjectAdmin(admin.ModelAdmin):
    """Objects received through the relay (read-only)."""

    list_display = ("object_ap_id", "object_type", "origin_domain", "deleted", "received_at")
    list_filter = ("deleted", "object_type")
    search_fields = ("object_ap_id", "origin_domain")
    readonly_fields = ("object_ap_id", "object_type", "origin_domain", "version", "deleted", "via", "received_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

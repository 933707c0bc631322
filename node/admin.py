"""Admin for members."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from node.models import User


@admin.register(User)
class MemberAdmin(UserAdmin):
    list_display = ("username", "display_name", "real_name", "is_staff", "is_active", "date_joined")
    search_fields = ("username", "display_name", "real_name", "email", "phone")
    ordering = ("username",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("display_name", "real_name", "email", "phone", "avatar", "bio", "language")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),)

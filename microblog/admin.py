"""Admin for the microblog: posts (search, filters, a tombstone-and-federate delete action),
hashtags, notifications, media and polls (mostly read-only: changes go through services)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from federation.actors import get_instance_actor
from microblog import services
from microblog.models import Hashtag, Media, Notification, Poll, PollOption, Post, PostEdit


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: visible, searchable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PostEditInline(admin.TabularInline):
    model = PostEdit
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "summary", "sensitive", "content")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Post)
class PostAdmin(ReadOnlyAdmin):
    list_display = ("pk", "author", "visibility", "local", "object_type", "short_text", "published_at", "deleted_at")
    list_filter = ("local", "visibility", "object_type", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("ap_id", "source", "content", "author__username", "author__domain")
    list_select_related = ("author",)
    raw_id_fields = ("author", "in_reply_to", "reblog_of", "audience")
    inlines = (PostEditInline,)
    actions = ("delete_and_federate",)

    @admin.display(description=_("text"))
    def short_text(self, obj: Post) -> str:
        from federation.sanitize import plain_text

        text = obj.source or plain_text(obj.content)
        return text[:80]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # a hard delete would let a late Create resurrect the post: use the action

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=_("Delete (tombstone and federate the Delete)"), permissions=["view"])
    def delete_and_federate(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        """Tombstone the selected posts through ``services.delete_post`` as the moderator."""
        if not (request.user.is_staff or request.user.is_superuser):
            self.message_user(request, _("Only staff can delete posts."), messages.ERROR)
            return
        moderator = getattr(request.user, "actor", None) or get_instance_actor()
        done = 0
        for post in queryset.filter(deleted_at__isnull=True):
            services.delete_post(moderator, post)
            done += 1
        self.message_user(request, ngettext("%d post deleted.", "%d posts deleted.", done) % done, messages.SUCCESS)


@admin.register(Hashtag)
class HashtagAdmin(ReadOnlyAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    exclude = ("posts",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("recipient", "type", "from_actor", "post", "created_at")
    list_filter = ("type",)
    search_fields = ("recipient__username", "from_actor__username")
    list_select_related = ("recipient", "from_actor")
    raw_id_fields = ("recipient", "from_actor", "post")


@admin.register(Media)
class MediaAdmin(ReadOnlyAdmin):
    list_display = ("pk", "owner", "kind", "mime_type", "size", "post", "created_at")
    list_filter = ("kind",)
    search_fields = ("owner__username", "remote_url", "description")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "post")


class PollOptionInline(admin.TabularInline):
    model = PollOption
    extra = 0
    can_delete = False
    readonly_fields = ("position", "title", "votes_count")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Poll)
class PollAdmin(ReadOnlyAdmin):
    list_display = ("pk", "post", "multiple", "expires_at", "closed_at", "voters_count")
    list_filter = ("multiple",)
    raw_id_fields = ("post",)
    inlines = (PollOptionInline,)

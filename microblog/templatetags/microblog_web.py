"""Template helpers of the microblog web UI: actor links and pictures, safe remote bios, media
URLs, and the microblog part of a member's profile page (``{% microblog_account member %}``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from federation.models import Actor
from federation.sanitize import sanitize_html
from microblog import media as media_module
from microblog.models import Media
from microblog.web_display import account_context, profile_path

register = template.Library()


@register.filter
def profile_url(actor: Actor) -> str:
    """The profile page of a local or remote actor."""
    return profile_path(actor)


@register.filter
def avatar_url(actor: Actor) -> str:
    """The actor's picture: a member's uploaded avatar, else the remote ``icon``; "" when none."""
    user = getattr(actor, "user", None) if actor.local else None
    if user is not None and getattr(user, "avatar", None):
        return str(user.avatar.url)
    return actor.icon_url or ""


@register.filter
def display_name(actor: Actor) -> str:
    """The name to show for an actor (display name, else username); escaped by the template."""
    user = getattr(actor, "user", None) if actor.local else None
    shown = str(getattr(user, "display_name", "") or "") if user is not None else ""
    if shown:
        return shown
    return actor.name or actor.username


@register.filter
def clean_html(value: str) -> SafeString:
    """Remote HTML (an actor's bio) sanitised at display time, since it is stored as received."""
    return mark_safe(sanitize_html(value or ""))  # noqa: S308 - sanitised just above


@register.filter
def media_src(item: Media) -> str:
    """Full-size URL of an attachment."""
    return media_module.media_url(item)


@register.filter
def media_preview(item: Media) -> str:
    """Preview (thumbnail) URL of an attachment."""
    return media_module.preview_url(item)


@register.inclusion_tag("microblog/_account.html", takes_context=True)
def microblog_account(context: template.Context, member: Any) -> dict[str, Any]:
    """Follow button, counts and posts of a member, for the node's profile page."""
    request = context["request"]
    actor = getattr(member, "actor", None)
    if actor is None:
        return {"account": None}
    return {
        **account_context(request, actor),
        "request": request,
        "user": context.get("user"),
        "csrf_token": context.get("csrf_token"),
    }

"""Instance endpoints (``/api/v1/instance``, ``/api/v2/instance``, peers, activity) and the small
always-empty collections that clients call at start-up (custom emojis, filters, announcements,
preferences, trends).

Apps gate features on ``version``: we answer ``4.3.0 (compatible; Redcloud x.y.z)`` as
GoToSocial and Akkoma do, so Tusky, Elk and Mastodon.py enable the 4.x API they expect.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest
from django.templatetags.static import static
from django.utils import timezone

from federation.models import Actor, ActorType
from microblog.api import account_serializers
from microblog.api.auth import api_view
from microblog.models import Post

MASTODON_API_VERSION = "4.3.0"
SUPPORTED_MIME_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]


def version() -> str:
    """The version string apps read: ``4.3.0 (compatible; Redcloud <NODE_VERSION>)``."""
    return f"{MASTODON_API_VERSION} (compatible; Redcloud {getattr(settings, 'NODE_VERSION', '0.0.0')})"


def limits() -> dict[str, Any]:
    """The real posting limits of this node, shared by v1 and v2 ``configuration``."""
    max_image = int(getattr(settings, "MICROBLOG_MAX_IMAGE_BYTES", 8 * 1024 * 1024))
    return {
        "accounts": {"max_featured_tags": 0, "max_pinned_statuses": int(getattr(settings, "MICROBLOG_MAX_PINS", 5))},
        "statuses": {
            "max_characters": int(getattr(settings, "MICROBLOG_MAX_CHARS", 500)),
            "max_media_attachments": int(getattr(settings, "MICROBLOG_MAX_MEDIA", 4)),
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": SUPPORTED_MIME_TYPES,
            "image_size_limit": max_image,
            "image_matrix_limit": int(getattr(settings, "MICROBLOG_MAX_IMAGE_PIXELS", 40_000_000)),
            "video_size_limit": 0,
            "video_frame_rate_limit": 0,
            "video_matrix_limit": 0,
            "description_limit": 1500,
        },
        "polls": {
            "max_options": int(getattr(settings, "MICROBLOG_MAX_POLL_OPTIONS", 10)),
            "max_characters_per_option": int(getattr(settings, "MICROBLOG_MAX_POLL_OPTION_CHARS", 50)),
            "min_expiration": 300,
            "max_expiration": 2629746,
        },
    }


def _languages() -> list[str]:
    langs = [code for code, _ in getattr(settings, "MICROBLOG_POST_LANGUAGES", [])] or ["zh-Hans", "en"]
    return langs


def _contact() -> Actor | None:
    return (
        Actor.objects.filter(local=True, type=ActorType.PERSON, user__is_superuser=True, suspended=False)
        .order_by("pk")
        .first()
    )


def _stats() -> dict[str, int]:
    users = Actor.objects.filter(local=True, type=ActorType.PERSON, user__isnull=False, user__is_active=True).count()
    posts = Post.objects.filter(local=True, deleted_at__isnull=True, reblog_of__isnull=True).count()
    domains = Actor.objects.filter(local=False).values("domain").distinct().count()
    return {"user_count": users, "status_count": posts, "domain_count": domains}


def _registration() -> tuple[bool, bool]:
    mode = str(getattr(settings, "NODE_REGISTRATION", "closed"))
    return mode == "approval", mode == "approval"


def _title() -> str:
    return str(getattr(settings, "NODE_NAME", "") or settings.NODE_DOMAIN)


def _description() -> str:
    return f"{_title()}: a Redcloud node."


@api_view(None)
def instance_v1(request: HttpRequest) -> dict[str, Any]:
    """``GET /api/v1/instance`` (Mastodon's V1::Instance entity)."""
    open_, approval = _registration()
    contact = _contact()
    config = limits()
    return {
        "uri": str(settings.NODE_DOMAIN),
        "title": _title(),
        "short_description": _description(),
        "description": _description(),
        "email": "",
        "version": version(),
        "urls": {},  # no streaming API: clients fall back to polling
        "stats": _stats(),
        "thumbnail": account_serializers.absolute(static(account_serializers.DEFAULT_HEADER)),
        "languages": _languages(),
        "registrations": open_,
        "approval_required": approval,
        "invites_enabled": str(getattr(settings, "NODE_REGISTRATION", "")) == "invite",
        "configuration": {k: v for k, v in config.items()},
        "contact_account": account_serializers.account(contact) if contact else None,
        "rules": [],
    }


@api_view(None)
def instance_v2(request: HttpRequest) -> dict[str, Any]:
    """``GET /api/v2/instance`` (Mastodon's Instance entity)."""
    open_, approval = _registration()
    contact = _contact()
    active = (
        Actor.objects.filter(local=True, type=ActorType.PERSON, user__isnull=False)
        .annotate(n=Count("posts", filter=Q(posts__local=True)))
        .filter(n__gt=0)
        .count()
    )
    return {
        "domain": str(settings.NODE_DOMAIN),
        "title": _title(),
        "version": version(),
        "source_url": str(settings.NODE_BASE_URL),
        "description": _description(),
        "usage": {"users": {"active_month": active}},
        "thumbnail": {"url": account_serializers.absolute(static(account_serializers.DEFAULT_HEADER))},
        "icon": [],
        "languages": _languages(),
        "configuration": {
            "urls": {},
            "vapid": {"public_key": ""},
            **limits(),
            "translation": {"enabled": False},
        },
        "registrations": {"enabled": open_, "approval_required": approval, "message": None, "url": None},
        "api_versions": {"mastodon": 2},
        "contact": {"email": "", "account": account_serializers.account(contact) if contact else None},
        "rules": [],
    }


@api_view(None)
def peers(request: HttpRequest) -> list[str]:
    """``GET /api/v1/instance/peers``: domains this node knows actors from."""
    return sorted(set(Actor.objects.filter(local=False).values_list("domain", flat=True)))


@api_view(None)
def activity(request: HttpRequest) -> list[dict[str, str]]:
    """``GET /api/v1/instance/activity``: weekly statuses, logins and registrations (12 weeks)."""
    now = timezone.now()
    start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for i in range(12):
        week = start - timedelta(weeks=i)
        end = week + timedelta(weeks=1)
        statuses = Post.objects.filter(local=True, published_at__gte=week, published_at__lt=end).count()
        regs = Actor.objects.filter(local=True, type=ActorType.PERSON, published_at__gte=week, published_at__lt=end)
        out.append(
            {
                "week": str(int(week.timestamp())),
                "statuses": str(statuses),
                "logins": "0",
                "registrations": str(regs.count()),
            }
        )
    return out


@api_view(None)
def empty_list(request: HttpRequest) -> list[Any]:
    """Collections this node does not have (custom emojis, announcements, trends, filters): ``[]``."""
    return []


@api_view(None)
def rules(request: HttpRequest) -> list[Any]:
    """``GET /api/v1/instance/rules``: no server rules are configured."""
    return []


@api_view("read:accounts")
def preferences(request: HttpRequest) -> dict[str, Any]:
    """``GET /api/v1/preferences`` (Tusky and Elk read the default visibility and language)."""
    actor = request.actor  # type: ignore[attr-defined]
    data = actor.data or {}
    return {
        "posting:default:visibility": data.get("default_privacy", "public"),
        "posting:default:sensitive": bool(data.get("default_sensitive", False)),
        "posting:default:language": getattr(request.user, "language", None) or None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }

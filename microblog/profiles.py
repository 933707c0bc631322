"""Profile changes of a local member (the write path of ``update_credentials``).

The member's ``User`` (display name, bio, language, avatar) and ``Actor`` (name, summary
HTML, locked, discoverable, icon, profile fields) change in one transaction, and an
``Update{Person}`` goes to the followers' inboxes (delivered after commit), as Mastodon does,
so remote copies of the profile refresh.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from federation.activitypub import actor_to_ap
from federation.follows import new_activity_id
from federation.models import Actor
from federation.outbox import inboxes_for_followers, publish
from federation.sanitize import linkify_text
from federation.vocab import CONTEXT, PUBLIC

MAX_DISPLAY_NAME = 30  # Mastodon's limits
MAX_NOTE = 500
MAX_FIELDS = 4
AVATAR_SIZE = 400
HEADER_SIZE = (1500, 500)
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")


class ProfileError(ValueError):
    """Invalid profile input; ``field`` names the parameter."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _image(upload: UploadedFile, *, field: str, box: tuple[int, int], crop: bool) -> ContentFile:
    """A re-encoded copy of an uploaded image (no metadata), at most ``box``; refuses other
    types and uploads over ``MICROBLOG_MAX_IMAGE_BYTES``."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # imported on use, not at start (bench B12)

    limit = int(getattr(settings, "MICROBLOG_MAX_IMAGE_BYTES", 8 * 1024 * 1024))
    if upload.size is not None and upload.size > limit:
        raise ProfileError(f"{field} must be smaller than {limit // (1024 * 1024)} MB", field=field)
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ProfileError(f"{field} must be smaller than {limit // (1024 * 1024)} MB", field=field)
    try:
        image = Image.open(io.BytesIO(data), formats=list(_FORMATS))
        width, height = image.size
        if width * height > int(getattr(settings, "MICROBLOG_MAX_IMAGE_PIXELS", 40_000_000)):
            raise ProfileError(f"{field} has too many pixels", field=field)
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ProfileError(f"{field} must be a JPEG, PNG, GIF or WebP image", field=field) from exc
    image = ImageOps.exif_transpose(image).convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    image = ImageOps.fit(image, box) if crop else ImageOps.contain(image, box)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)  # a fresh file: no EXIF or other metadata
    return ContentFile(out.getvalue(), name=f"{field}.png")


def _check_len(value: str, limit: int, field: str, label: str) -> str:
    if len(value) > limit:
        raise ProfileError(f"{label} is too long (maximum is {limit} characters)", field=field)
    return value


def update_profile(
    actor: Actor,
    *,
    display_name: str | None = None,
    note: str | None = None,
    locked: bool | None = None,
    discoverable: bool | None = None,
    language: str | None = None,
    privacy: str | None = None,
    sensitive: bool | None = None,
    fields: list[tuple[str, str]] | None = None,
    avatar: UploadedFile | None = None,
    header: UploadedFile | None = None,
) -> Actor:
    """Change the given profile attributes of local member ``actor`` (``None`` = unchanged)
    and send ``Update{Person}`` to its remote followers. Raises :class:`ProfileError`."""
    user = actor.user
    if not actor.local or user is None:
        raise ProfileError("only local members have a profile here")
    if display_name is not None:
        display_name = _check_len(display_name.strip(), MAX_DISPLAY_NAME, "display_name", "Display name")
    if note is not None:
        note = _check_len(note.strip(), MAX_NOTE, "note", "Note")
    if language is not None and (len(language) > 16 or not language.replace("-", "").isalnum()):
        raise ProfileError("Language is not a language code", field="source[language]")
    if privacy is not None and privacy not in ("public", "unlisted", "private", "direct"):
        raise ProfileError("Privacy is not a visibility", field="source[privacy]")
    if fields is not None and len(fields) > MAX_FIELDS:
        raise ProfileError(f"Fields: at most {MAX_FIELDS}", field="fields_attributes")
    avatar_file = _image(avatar, field="avatar", box=(AVATAR_SIZE, AVATAR_SIZE), crop=True) if avatar else None
    header_file = _image(header, field="header", box=HEADER_SIZE, crop=False) if header else None
    with transaction.atomic():
        actor = Actor.objects.select_for_update().get(pk=actor.pk)
        user = actor.user
        data: dict[str, Any] = dict(actor.data or {})
        if display_name is not None:
            user.display_name = display_name
            actor.name = display_name or user.username
        if note is not None:
            user.bio = note
            actor.summary = linkify_text(note)
        if locked is not None:
            actor.manually_approves_followers = locked
        if discoverable is not None:
            actor.discoverable = discoverable
        if language is not None:
            user.language = language
        if privacy is not None:
            data["default_privacy"] = privacy
        if sensitive is not None:
            data["default_sensitive"] = sensitive
        if fields is not None:
            data["attachment"] = [
                {"type": "PropertyValue", "name": n[:255], "value": linkify_text(v[:2047])} for n, v in fields if n
            ]
        if avatar_file is not None:
            user.avatar.save(avatar_file.name, avatar_file, save=False)
            actor.icon_url = _absolute(user.avatar.url)
        if header_file is not None:
            name = default_storage.save(f"headers/{actor.pk}-{header_file.name}", header_file)
            data["image"] = {"type": "Image", "url": _absolute(default_storage.url(name))}
        actor.data = data
        user.save()
        actor.save()
        federate_profile(actor)
    return actor


def _absolute(url: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    return str(settings.NODE_BASE_URL).rstrip("/") + "/" + url.lstrip("/")


def federate_profile(actor: Actor) -> None:
    """Send ``Update{Person}`` (the current actor document) to the followers' inboxes; runs
    in the caller's transaction, delivered after commit."""
    doc = actor_to_ap(actor)
    doc.pop("@context", None)
    data = actor.data or {}
    if data.get("attachment"):
        doc["attachment"] = data["attachment"]
    if data.get("image"):
        doc["image"] = data["image"]
    update = {
        "@context": CONTEXT,
        "id": new_activity_id(),
        "type": "Update",
        "actor": actor.ap_id,
        "object": doc,
        "to": [PUBLIC],
    }
    publish(update, actor=actor, inboxes=inboxes_for_followers(actor), object_ap_id=actor.ap_id, public=True)

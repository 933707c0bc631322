"""Media attachments: checked, cleaned local image uploads and remote attachments by reference.

Local uploads are identified by their content (never the file name or the client's content
type), bounded in bytes and pixels, re-encoded without EXIF/XMP/text metadata (the EXIF
orientation is applied first), stored under ``MEDIA_ROOT`` through Django's storage with a
random name, with a thumbnail and a BlurHash. Remote attachments are stored as references only;
their bytes are never fetched.
"""

from __future__ import annotations

import io
import re
import secrets
import struct
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from federation.models import Actor
from microblog import blurhash
from microblog.models import Media

if TYPE_CHECKING:
    from PIL import Image

MAX_DESCRIPTION = 1500  # Mastodon's limit for alt text
THUMBNAIL_FORMAT = ("WEBP", "image/webp", "webp")
# Pillow format name -> (MIME type, file extension). Anything else is refused.
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
_KINDS = {"image", "video", "audio"}
_TYPE_KINDS = {"Image": "image", "Video": "video", "Audio": "audio"}
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_BLURHASH = re.compile(r"^[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]{6,100}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MediaError(ValueError):
    """An upload was refused; ``message`` is translated and fit to show to the member.

    ``code`` says why: ``type``, ``size``, ``pixels``, ``damaged`` or ``description``.
    """

    def __init__(self, message: str, *, code: str = "type") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def max_image_bytes() -> int:
    """The upload size limit in bytes (``MICROBLOG_MAX_IMAGE_BYTES``, default 8 MiB)."""
    return int(getattr(settings, "MICROBLOG_MAX_IMAGE_BYTES", 8 * 1024 * 1024))


def _type_error() -> MediaError:
    size = f"{max_image_bytes() / (1024 * 1024):.3g}"
    return MediaError(_("Images up to %(size)s MB: JPEG, PNG, GIF or WebP.") % {"size": size}, code="type")


def _read_bounded(upload: UploadedFile, limit: int) -> bytes:
    """The upload's bytes, refusing more than ``limit`` without reading them all."""
    if upload.size is not None and upload.size > limit:
        raise MediaError(_type_error().message, code="size")
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise MediaError(_type_error().message, code="size")
    return data


def _open_checked(data: bytes) -> Image.Image:
    """Open and fully decode ``data`` as an allowed image within the pixel limits."""
    # Pillow is imported on use, not by every web and worker process at start (bench B12).
    from PIL import Image, ImageSequence, UnidentifiedImageError

    max_pixels = int(getattr(settings, "MICROBLOG_MAX_IMAGE_PIXELS", 40_000_000))
    max_total = int(getattr(settings, "MICROBLOG_MAX_ANIMATION_PIXELS", 100_000_000))
    too_big = MediaError(
        _("This image is too large: at most %(mp)d megapixels.") % {"mp": max_pixels // 1_000_000}, code="pixels"
    )
    damaged = MediaError(_("This image is damaged or incomplete."), code="damaged")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_big from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise _type_error() from None
        # The header alone tells the size: refuse before decoding a single pixel.
        width, height = probe.size
        frames = getattr(probe, "n_frames", 1)
        if width * height > max_pixels or width * height * frames > max_total:
            raise too_big
        try:
            probe.verify()
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
            image.load()
            for frame in ImageSequence.Iterator(image) if frames > 1 else ():
                frame.load()
            image.seek(0)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_big from None
        except (OSError, ValueError, SyntaxError, EOFError, struct.error):
            raise damaged from None
    return image


def _bare(image: Image.Image) -> Image.Image:
    """A copy of ``image`` without ``info``: Pillow writes comments, EXIF and XMP found there when saving."""
    copy = image.copy()
    copy.info = {}
    return copy


def _clean(image: Image.Image, fmt: str) -> bytes:
    """Re-encode ``image`` in ``fmt`` with no metadata besides the colour profile, orientation applied."""
    from PIL import ImageOps, ImageSequence

    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    extra: dict[str, Any] = {"icc_profile": icc} if icc and fmt != "GIF" else {}
    frames = getattr(image, "n_frames", 1)
    if fmt in ("GIF", "WEBP") and frames > 1:
        # Animation kept; only frame timing and looping survive, no comments or XMP.
        sequence = [_bare(frame) for frame in ImageSequence.Iterator(image)]
        durations = [frame.info.get("duration", 100) for frame in ImageSequence.Iterator(image)]
        sequence[0].save(
            out,
            fmt,
            save_all=True,
            append_images=sequence[1:],
            duration=durations,
            loop=image.info.get("loop", 0),
            **({"lossless": False, "quality": 85} if fmt == "WEBP" else {}),
        )
        return out.getvalue()
    upright = _bare(ImageOps.exif_transpose(image) or image)
    if fmt == "JPEG":
        if upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        upright.save(out, "JPEG", quality=88, optimize=True, **extra)
    elif fmt == "PNG":
        upright.save(out, "PNG", optimize=True, **extra)
    elif fmt == "WEBP":
        if upright.mode not in ("RGB", "RGBA"):
            upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
        upright.save(out, "WEBP", quality=85, **extra)
    else:  # a still GIF
        upright.save(out, "GIF")
    return out.getvalue()


def _thumbnail(image: Image.Image) -> tuple[bytes, Image.Image]:
    """A WebP preview of the first frame, ``MICROBLOG_THUMBNAIL_SIZE`` on its long side at most."""
    from PIL import Image, ImageOps

    side = int(getattr(settings, "MICROBLOG_THUMBNAIL_SIZE", 400))
    image.seek(0)
    preview = _bare(ImageOps.exif_transpose(image) or image)
    preview = preview.convert("RGBA" if "A" in preview.getbands() or "transparency" in preview.info else "RGB")
    preview.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    preview.save(out, THUMBNAIL_FORMAT[0], quality=80)
    return out.getvalue(), preview


def create_media(owner: Actor, upload: UploadedFile, *, description: str = "") -> Media:
    """Store ``upload`` as an image attachment of ``owner`` (not yet attached to a post).

    Guarantees on success: a JPEG/PNG/GIF/WebP within the byte and pixel limits, re-encoded
    without EXIF or other metadata, saved with a random name, a thumbnail, width/height of the
    upright image and a BlurHash. On refusal raises :class:`MediaError` and stores nothing
    (no row, no file).
    """
    description = _CONTROL.sub("", description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise MediaError(
            _("The description is too long: at most %(n)d characters.") % {"n": MAX_DESCRIPTION}, code="description"
        )
    from PIL import Image

    data = _read_bounded(upload, max_image_bytes())
    image = _open_checked(data)
    fmt = image.format or ""
    if fmt not in FORMATS:
        raise _type_error()
    mime, ext = FORMATS[fmt]
    try:
        cleaned = _clean(image, fmt)
        thumb_bytes, preview = _thumbnail(image)
        hash_ = blurhash.encode(preview)
        with Image.open(io.BytesIO(cleaned)) as stored:
            width, height = stored.size
    except (OSError, ValueError, EOFError):
        raise MediaError(_("This image is damaged or incomplete."), code="damaged") from None

    media = Media(
        owner=owner,
        kind="image",
        mime_type=mime,
        description=description,
        width=width,
        height=height,
        blurhash=hash_,
        size=len(cleaned),
    )
    name = secrets.token_hex(16)
    saved: list[Any] = []
    try:
        media.file.save(f"{name}.{ext}", ContentFile(cleaned), save=False)
        saved.append(media.file)
        media.thumbnail.save(f"{name}.{THUMBNAIL_FORMAT[2]}", ContentFile(thumb_bytes), save=False)
        saved.append(media.thumbnail)
        with transaction.atomic():
            media.save()
    except BaseException:
        _delete_files(saved)
        raise
    return media


def _delete_files(files: Iterable[Any]) -> None:
    for field_file in files:
        try:
            field_file.storage.delete(field_file.name)
        except OSError:
            pass


def delete_media_files(media: Media) -> None:
    """Remove a local attachment's file and thumbnail from storage (the row is the caller's)."""
    _delete_files(f for f in (media.file, media.thumbnail) if f)


def absolute_media_url(name: str) -> str:
    """The absolute URL of a stored file, from ``NODE_BASE_URL`` and ``MEDIA_URL``."""
    media_url = settings.MEDIA_URL
    if media_url.startswith(("http://", "https://")):
        return media_url.rstrip("/") + "/" + name
    return f"{settings.NODE_BASE_URL.rstrip('/')}/{media_url.strip('/')}/{name}"


def media_url(media: Media) -> str:
    """The full-size URL of an attachment: ours for uploads, the origin's for remote ones."""
    return absolute_media_url(str(media.file.name)) if media.file else media.remote_url


def preview_url(media: Media) -> str:
    """The preview URL: our thumbnail when we have one, else the full-size URL."""
    return absolute_media_url(str(media.thumbnail.name)) if media.thumbnail else media_url(media)


def media_to_ap(media: Media) -> dict[str, Any]:
    """The AS2 ``Document`` for an attachment, as Mastodon sends it (``name`` is the alt text or null)."""
    doc: dict[str, Any] = {
        "type": "Document",
        "mediaType": media.mime_type or None,
        "url": media_url(media),
        "name": media.description or None,
    }
    if media.blurhash:
        doc["blurhash"] = media.blurhash
    if media.width and media.height:
        doc["width"], doc["height"] = media.width, media.height
    return doc


def _http_url(value: Any) -> str:
    if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= 500:
        return value
    return ""


def _links(value: Any) -> list[dict[str, Any]]:
    """``url`` as a list of Link-like dicts: a string, a Link, or a list of either (PeerTube)."""
    items = value if isinstance(value, list) else [value]
    links = []
    for item in items:
        if isinstance(item, str):
            links.append({"href": item})
        elif isinstance(item, dict) and item.get("type", "Link") == "Link":
            links.append(item)
            # PeerTube (HLS videos) nests the MP4 files in the playlist Link's ``tag``.
            nested = item.get("tag")
            if isinstance(nested, list):
                links += [t for t in nested if isinstance(t, dict) and t.get("type") == "Link"]
    return [link for link in links if _http_url(link.get("href"))]


def _kind(mime: str, ap_type: str) -> str:
    major = mime.split("/", 1)[0] if mime else ""
    return major if major in _KINDS else _TYPE_KINDS.get(ap_type, "unknown")


def _dimension(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 100_000 else None


def _pick_link(links: list[dict[str, Any]], ap_type: str) -> dict[str, Any]:
    """The best playable link: a media type of the object's kind, largest first (PeerTube lists many)."""
    wanted = _TYPE_KINDS.get(ap_type)
    playable = [
        link
        for link in links
        if isinstance(link.get("mediaType"), str)
        and _kind(link["mediaType"], "") in _KINDS
        and (wanted is None or link["mediaType"].startswith(wanted + "/"))
    ]
    if not playable:
        return links[0]
    return max(playable, key=lambda link: _dimension(link.get("height")) or 0)


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_attachment(data: Any) -> dict[str, Any] | None:
    """Pure: the ``Media`` fields of one remote attachment, or None when it is not usable media.

    Accepts ``Document``/``Image``/``Video``/``Audio`` (``url`` a string, a Link or a list of
    Links) and ``Link`` with an image/video/audio ``mediaType``; only http(s) URLs.
    """
    if not isinstance(data, dict):
        return None
    ap_type = data.get("type")
    if ap_type == "Link":
        links = _links({**data, "type": "Link"})
        if not links or _kind(str(data.get("mediaType") or ""), "") == "unknown":
            return None  # a plain web link (Lemmy's page link), not media
    elif ap_type in ("Document", "Image", "Video", "Audio"):
        links = _links(data.get("url"))
        if not links:
            return None
    else:
        return None
    link = _pick_link(links, ap_type) if ap_type != "Link" else links[0]
    mime = link.get("mediaType") if isinstance(link.get("mediaType"), str) else data.get("mediaType")
    mime = mime if isinstance(mime, str) and _MIME.match(mime) and len(mime) <= 100 else ""
    name = _string(data.get("name"))
    hash_ = _string(data.get("blurhash"))
    return {
        "kind": _kind(mime, ap_type),
        "mime_type": mime,
        "remote_url": link["href"],
        "description": _CONTROL.sub("", name).strip()[:MAX_DESCRIPTION],
        "width": _dimension(link.get("width")) or _dimension(data.get("width")),
        "height": _dimension(link.get("height")) or _dimension(data.get("height")),
        "blurhash": hash_ if _BLURHASH.match(hash_) else "",
    }


def ap_to_media(owner: Actor, data: Any) -> Media | None:
    """Save a remote attachment of ``owner`` as a ``Media`` row referencing ``remote_url``.

    Returns None (and saves nothing) for anything that is not usable media. The bytes are
    never fetched. The row is not attached to a post: the caller sets ``post``/``position``.
    """
    fields = parse_attachment(data)
    if fields is None:
        return None
    return Media.objects.create(owner=owner, **fields)

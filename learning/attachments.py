"""Uploaded files of courses: cover images and lesson attachments, checked by their content.

Nothing the client says (file name, content type) decides the type: the bytes do. Every check
runs on bytes read with a bound before anything is stored, so a refused upload leaves no row
and no file. PDFs with active content (JavaScript, launch actions, embedded files, XFA forms)
and EPUBs that are not well-formed zip containers (or would expand beyond a bound, or name
paths outside the book) are refused; a damaged file is a refusal, never a crash.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import warnings
import zipfile
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from learning.errors import LearningError

COVER_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
# kind -> (mime type, extension) per detected container
_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|XFA|RichMedia|SubmitForm|ImportData)\b")
_NAME = re.compile(r"[^\w\u4e00-\u9fff .()\-]+")


COVER_MAX_BYTES = 5 * 1024 * 1024


def max_bytes(kind: str) -> int:
    """Upload limit in bytes for ``kind``: the ``LEARNING_MAX_<KIND>_BYTES`` setting (from
    ``LEARNING_MAX_<KIND>_MB`` in node/config.py) for video, audio, pdf and epub; 5 MiB for covers."""
    limits = {
        "video": settings.LEARNING_MAX_VIDEO_BYTES,
        "audio": settings.LEARNING_MAX_AUDIO_BYTES,
        "pdf": settings.LEARNING_MAX_PDF_BYTES,
        "epub": settings.LEARNING_MAX_EPUB_BYTES,
    }
    return int(limits.get(kind, COVER_MAX_BYTES))


def _too_big(limit: int) -> LearningError:
    return LearningError(
        _("This file is too large: at most %(mb)s MB.") % {"mb": f"{limit / (1024 * 1024):.3g}"}, code="size"
    )


def _read(upload: UploadedFile, limit: int) -> bytes:
    """The upload's bytes, refusing more than ``limit`` without reading them all."""
    too_big = _too_big(limit)
    if upload.size is not None and upload.size > limit:
        raise too_big
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise too_big
    return data


def _refused() -> LearningError:
    return LearningError(
        _("Attachments must be video (MP4, WebM, Ogg), audio (MP3, M4A, Ogg, WAV, FLAC), PDF or EPUB."), code="type"
    )


def sniff(data: bytes) -> tuple[str, str, str] | None:
    """``(kind, mime type, extension)`` of a supported attachment from its first bytes, else None."""
    head = data[:64]
    if head.startswith(b"%PDF-"):
        return "pdf", "application/pdf", "pdf"
    if head.startswith(b"PK\x03\x04") and head[30:58] == b"mimetypeapplication/epub+zip":
        return "epub", "application/epub+zip", "epub"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio", "audio/mp4", "m4a"
        return "video", "video/mp4", "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "video/webm", "webm"
    if head.startswith(b"OggS"):
        is_audio = b"OpusHead" in data[:256] or b"\x01vorbis" in data[:256]
        return ("audio", "audio/ogg", "ogg") if is_audio else ("video", "video/ogg", "ogv")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio", "audio/mpeg", "mp3"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio", "audio/wav", "wav"
    if head.startswith(b"fLaC"):
        return "audio", "audio/flac", "flac"
    return None


def _check_pdf(data: bytes) -> None:
    """Refuse PDFs with active content (also when hidden in compressed object streams: the
    document catalog is inspected after parsing) or that the parser cannot read."""
    bad = LearningError(_("This PDF is damaged or contains active content."), code="type")
    if _PDF_ACTIVE.search(data) or b"%%EOF" not in data[-2048:]:
        raise bad
    try:
        from pypdf import PdfReader

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            root: Any = reader.trailer["/Root"].get_object()
            names: Any = root["/Names"].get_object() if "/Names" in root else {}
            active = any(key in root for key in ("/OpenAction", "/AA")) or any(
                key in names for key in ("/JavaScript", "/EmbeddedFiles")
            )
            pages = len(reader.pages)
    except Exception:  # any parser failure means "damaged", never a crash
        raise bad from None
    if active or pages < 1:
        raise bad


def _check_epub(data: bytes) -> None:
    """Refuse EPUBs that are not sound zip containers, expand too much or escape their folder."""
    bad = LearningError(_("This EPUB is damaged or unsafe."), code="type")
    limit = int(settings.LEARNING_MAX_EPUB_EXPANDED_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            infos = book.infolist()
            if not infos or infos[0].filename != "mimetype" or "META-INF/container.xml" not in book.namelist():
                raise bad
            if sum(i.file_size for i in infos) > limit or len(infos) > 10_000:
                raise bad
            for info in infos:
                name = info.filename
                if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
                    raise bad
            if book.testzip() is not None:
                raise bad
    except LearningError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise bad from None


def clean_name(name: str, ext: str) -> str:
    """A display name without path or odd characters, ending in the detected extension."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    base = _NAME.sub("", base).strip()[:150] or "file"
    return f"{base}.{ext}"


def check_attachment(upload: UploadedFile) -> tuple[str, str, str, bytes]:
    """``(kind, mime type, extension, bytes)`` of an acceptable lesson attachment.

    Raises :class:`LearningError` (``size`` or ``type``) for anything too large, of another
    type, damaged or unsafe; nothing is stored by this function."""
    limit = max(max_bytes(k) for k in ("video", "audio", "pdf", "epub"))
    data = _read(upload, limit)
    found = sniff(data)
    if found is None:
        raise _refused()
    kind, mime, ext = found
    if len(data) > max_bytes(kind):
        raise _too_big(max_bytes(kind))
    if kind == "pdf":
        _check_pdf(data)
    elif kind == "epub":
        _check_epub(data)
    return kind, mime, ext, data


def stored_name(ext: str) -> str:
    """A random file name with ``ext`` (names never come from the client)."""
    return f"{secrets.token_hex(16)}.{ext}"


def digest(data: bytes) -> str:
    """SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_cover(upload: UploadedFile) -> tuple[bytes, str]:
    """``(re-encoded bytes, extension)`` of a cover image: JPEG, PNG or WebP within the size and
    pixel limits, decoded fully, re-encoded upright without metadata. Raises ``LearningError``."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # imported on use, not at start (bench B12)

    data = _read(upload, max_bytes("cover"))
    refused = LearningError(_("Covers are JPEG, PNG or WebP images."), code="type")
    max_pixels = int(settings.MICROBLOG_MAX_IMAGE_PIXELS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(COVER_FORMATS))
            if image.size[0] * image.size[1] > max_pixels:
                raise refused
            fmt = image.format or ""
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            upright = upright.copy()
            upright.info = {}
            if fmt == "JPEG" and upright.mode not in ("RGB", "L"):
                upright = upright.convert("RGB")
            out = io.BytesIO()
            upright.save(out, fmt)
        except LearningError:
            raise
        except (
            UnidentifiedImageError,
            OSError,
            ValueError,
            SyntaxError,
            EOFError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ):
            raise refused from None
    return out.getvalue(), COVER_FORMATS[fmt][1]

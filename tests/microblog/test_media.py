"""Media attachments: upload checks, metadata stripping, thumbnails, BlurHash, AS2 conversions."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from microblog import blurhash
from microblog.media import MediaError, ap_to_media, create_media, media_to_ap, parse_attachment
from microblog.models import Media


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    """A throw-away MEDIA_ROOT and a fixed base URL."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_URL = "/media/"
    settings.NODE_BASE_URL = "https://county-a.example"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _english():
    """Messages are checked in English (the node's default language is zh-hans)."""
    with translation.override("en"):
        yield


@pytest.fixture
def owner(make_local_member):
    return make_local_member("alice")


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def image_bytes(fmt: str, size=(800, 600), colour=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_gps(size=(600, 300), orientation: int | None = None) -> bytes:
    """A JPEG carrying EXIF GPS coordinates, camera make and optionally an orientation."""
    image = Image.new("RGB", size, (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 0.0), 3: "E", 4: (116.0, 23.0, 0.0)}  # GPSInfo
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def upload(data: bytes, name: str = "photo.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def assert_nothing_stored(root: Path) -> None:
    assert Media.objects.count() == 0
    assert stored_files(root) == []


def test_png_upload_is_stored_with_thumbnail_and_blurhash(owner, media_root):
    """A valid PNG is stored re-encoded, with its size, a ≤400 px WebP thumbnail and a BlurHash."""
    media = create_media(owner, upload(image_bytes("PNG", (1200, 900))), description="  a red square ")
    media.refresh_from_db()
    assert (media.kind, media.mime_type, media.width, media.height) == ("image", "image/png", 1200, 900)
    assert media.description == "a red square" and media.owner == owner and media.post is None
    with Image.open(media.file.path) as stored:
        assert stored.format == "PNG" and stored.size == (1200, 900)
    with Image.open(media.thumbnail.path) as thumb:
        assert thumb.format == "WEBP" and thumb.size == (400, 300)
    assert len(media.blurhash) == 28  # 4x3 components
    red, green, blue = blurhash.average_colour(media.blurhash)
    assert red > 150 and green < 80 and blue < 80
    assert media.size == Path(media.file.path).stat().st_size
    assert len(stored_files(media_root)) == 2


def test_jpeg_exif_gps_is_stripped_and_orientation_applied(owner, media_root):
    """EXIF (GPS, camera) is gone from the stored JPEG and thumbnail; orientation 6 is applied, so w/h swap."""
    data = jpeg_with_gps((600, 300), orientation=6)
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get_ifd(0x8825)  # the fixture really carries GPS data
    media = create_media(owner, upload(data, "IMG_0001.JPG", "image/jpeg"))
    for path in (media.file.path, media.thumbnail.path):
        raw = Path(path).read_bytes()
        assert b"Exif" not in raw and b"SpyCam" not in raw
        with Image.open(path) as stored:
            assert len(stored.getexif()) == 0 and "exif" not in stored.info
    assert (media.mime_type, media.width, media.height) == ("image/jpeg", 300, 600)
    assert media.file.name.endswith(".jpg") and "IMG_0001" not in media.file.name


def test_file_names_are_random_not_the_clients(owner, media_root):
    """Two uploads with the same client file name get different, unguessable storage names."""
    first = create_media(owner, upload(image_bytes("PNG"), "same.png"))
    second = create_media(owner, upload(image_bytes("PNG"), "same.png"))
    assert first.file.name != second.file.name
    assert "same" not in first.file.name and len(Path(first.file.name).stem) >= 32


def test_type_is_detected_from_content_not_name(owner, media_root):
    """A WebP named .png with a wrong content type is stored as WebP."""
    media = create_media(owner, upload(image_bytes("WEBP"), "x.png", "application/octet-stream"))
    assert media.mime_type == "image/webp" and media.file.name.endswith(".webp")


def test_animated_gif_keeps_its_frames(owner, media_root):
    """An animated GIF stays animated after re-encoding; the thumbnail is its first frame."""
    frames = [Image.new("RGB", (60, 40), (i * 80, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, comment=b"secret")
    media = create_media(owner, upload(out.getvalue(), "a.gif", "image/gif"))
    with Image.open(media.file.path) as stored:
        assert stored.format == "GIF" and stored.n_frames == 3 and b"secret" not in stored.info.get("comment", b"")
    assert (media.width, media.height) == (60, 40)


def test_oversized_upload_is_refused(owner, media_root, settings):
    """A file over MICROBLOG_MAX_IMAGE_BYTES is refused with the size message; nothing stored."""
    settings.MICROBLOG_MAX_IMAGE_BYTES = 10_000
    data = image_bytes("PNG", (300, 300), compress_level=0)
    assert len(data) > 10_000
    with pytest.raises(MediaError) as exc:
        create_media(owner, upload(data))
    assert exc.value.message == "Images up to 0.00954 MB: JPEG, PNG, GIF or WebP."
    assert exc.value.code == "size"
    assert_nothing_stored(media_root)


def test_default_limit_is_eight_mib(owner, media_root):
    """The default limit refuses a file just over 8 MiB."""
    big = image_bytes("PNG", (10, 10)) + b"\0" * (8 * 1024 * 1024)
    with pytest.raises(MediaError) as exc:
        create_media(owner, upload(big))
    assert exc.value.code == "size" and exc.value.message == "Images up to 8 MB: JPEG, PNG, GIF or WebP."
    assert_nothing_stored(media_root)


@pytest.mark.parametrize(
    "data",
    [
        b"this is a text file, honestly\n" * 20,
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
    ],
    ids=["text", "svg"],
)
def test_non_image_named_png_is_refused(owner, media_root, data):
    """A text file or an SVG renamed .png with an image content type is refused; nothing stored."""
    with pytest.raises(MediaError) as exc:
        create_media(owner, upload(data, "innocent.png", "image/png"))
    assert exc.value.code == "type"
    assert_nothing_stored(media_root)


def test_other_image_format_is_refused(owner, media_root):
    """A real image in a format outside JPEG/PNG/GIF/WebP (BMP) is refused."""
    with pytest.raises(MediaError) as exc:
        create_media(owner, upload(image_bytes("BMP"), "a.png"))
    assert exc.value.code == "type"
    assert_nothing_stored(media_root)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_refused(owner, media_root, fmt):
    """An image cut in the middle of its pixel data is refused as damaged; nothing stored."""
    whole = Image.effect_noise((400, 400), 60).convert("RGB")
    out = io.BytesIO()
    whole.save(out, fmt)
    data = out.getvalue()
    with pytest.raises(MediaError) as exc:
        create_media(owner, upload(data[: len(data) // 2]))
    assert exc.value.code in ("damaged", "type")
    assert_nothing_stored(media_root)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` pixels with one tiny compressed IDAT: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(60_000, 60_000), (8_000, 6_000)], ids=["pillow-bomb", "over-40MP"])
def test_decompression_bomb_is_refused(owner, media_root, size):
    """A small file declaring a huge pixel count is refused before decoding; nothing stored."""
    data = png_header_only(*size)
    assert len(data) < 2000
    with pytest.raises(MediaError) as exc:
        create_media(owner, upload(data))
    assert exc.value.code == "pixels"
    assert_nothing_stored(media_root)


def test_pixel_limit_comes_from_settings(owner, media_root, settings):
    """MICROBLOG_MAX_IMAGE_PIXELS bounds real images too."""
    settings.MICROBLOG_MAX_IMAGE_PIXELS = 10_000
    with pytest.raises(MediaError) as exc:
        create_media(owner, upload(image_bytes("PNG", (200, 200))))
    assert exc.value.code == "pixels"
    assert_nothing_stored(media_root)


def test_too_long_description_is_refused(owner, media_root):
    """Alt text over 1500 characters is refused; nothing stored."""
    with pytest.raises(MediaError) as exc:
        create_media(owner, upload(image_bytes("PNG")), description="x" * 1501)
    assert exc.value.code == "description"
    assert_nothing_stored(media_root)


def test_media_to_ap_is_a_mastodon_document(owner, media_root):
    """The AS2 form has type, media type, absolute URL under MEDIA_URL, alt text, size and BlurHash."""
    media = create_media(owner, upload(image_bytes("JPEG", (640, 480))), description="Alt")
    doc = media_to_ap(media)
    assert doc["type"] == "Document" and doc["mediaType"] == "image/jpeg" and doc["name"] == "Alt"
    assert doc["url"] == f"https://county-a.example/media/{media.file.name}"
    assert (doc["width"], doc["height"], doc["blurhash"]) == (640, 480, media.blurhash)


def test_ap_to_media_reads_mastodon_attachment(owner, fixture_path):
    """Mastodon's Document attachment (floss.social) becomes a remote Media with alt text, size and BlurHash."""
    note = json.loads(fixture_path("mastodon/note_attachment_blurhash.json").read_text())
    media = ap_to_media(owner, note["attachment"][0])
    assert media is not None and media.pk and not media.file
    assert media.remote_url.endswith("/original/c8d906a2f2ab2334.jpg")
    assert (media.kind, media.mime_type, media.width, media.height) == ("image", "image/jpeg", 1500, 1095)
    assert media.blurhash == "USQv:h-W-qI-^,W;RPs=^-R%NZxbo#sDobSc"
    assert media.description.startswith("The KDE dragons Katie and Konqi")
    assert media_to_ap(media)["url"] == media.remote_url


def test_ap_to_media_reads_peertube_video_links(owner, fixture_path):
    """A PeerTube Video with a list of Links gives the largest playable MP4, never the HLS or torrent link."""
    video = json.loads(fixture_path("peertube/video.json").read_text())
    media = ap_to_media(owner, video)
    assert media is not None and media.kind == "video" and media.mime_type == "video/mp4"
    assert media.remote_url.startswith("https://tilvids.com/") and media.remote_url.endswith(".mp4")
    assert media.height == 1080 and media.width == 1920


@pytest.mark.parametrize(
    "data",
    [
        {"type": "Document", "mediaType": "image/png", "url": "javascript:alert(1)"},
        {"type": "Document", "mediaType": "image/png", "url": "file:///etc/passwd"},
        {"type": "Link", "mediaType": "text/html", "href": "https://example.com/article"},
        {"type": "Note", "url": "https://example.com/x.png"},
        "https://example.com/x.png",
    ],
    ids=["javascript", "file", "web-link", "not-media", "bare-string"],
)
def test_ap_to_media_refuses_non_media_and_unsafe_urls(owner, data):
    """Non-http(s) URLs, plain web links and non-attachment objects give None and store nothing."""
    assert ap_to_media(owner, data) is None
    assert Media.objects.count() == 0


def test_parse_attachment_drops_bad_fields():
    """Bogus media types, blurhashes and dimensions from a remote server are dropped, not stored."""
    fields = parse_attachment(
        {
            "type": "Image",
            "url": {"type": "Link", "href": "https://h.example/a.webp", "mediaType": "image/webp"},
            "mediaType": "image/webp",
            "blurhash": "<script>",
            "width": -3,
            "height": True,
            "name": "alt\x00 text",
        }
    )
    assert fields is not None
    assert fields["remote_url"] == "https://h.example/a.webp" and fields["mime_type"] == "image/webp"
    assert fields["blurhash"] == "" and fields["width"] is None and fields["height"] is None
    assert fields["description"] == "alt text"


def test_blurhash_encodes_average_colour_and_detail():
    """The DC term is the average colour; a striped image has more detail (larger AC maximum) than a flat one."""
    flat = blurhash.encode(Image.new("RGB", (50, 30), (0, 128, 255)))
    assert len(flat) == 28 and flat[0] == "L"  # size flag of 4x3 components
    assert blurhash.average_colour(flat) == (0, 128, 255)
    striped = Image.new("RGB", (64, 64), (0, 0, 0))
    striped.paste((255, 255, 255), (0, 0, 32, 64))
    code = blurhash.encode(striped, 3, 3)
    assert len(code) == 4 + 2 * 9 and code[0] == blurhash.base83(2 + 2 * 9, 1)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
    assert alphabet.index(code[1]) > alphabet.index(flat[1])


def test_refusal_messages_have_chinese_translations():
    """Every refusal message of microblog.media has a zh-Hans translation in the catalogue."""
    import re

    import polib

    source = (Path(__file__).resolve().parents[2] / "microblog" / "media.py").read_text()
    msgids = re.findall(r'_\(\s*"([^"]+)"\s*\)', source)
    assert len(msgids) >= 4
    catalogue = polib.pofile(str(Path(__file__).resolve().parents[2] / "locale/zh_Hans/LC_MESSAGES/django.po"))
    translated = {entry.msgid: entry.msgstr for entry in catalogue if entry.msgstr}
    for msgid in msgids:
        assert msgid in translated, f"no zh-Hans translation for {msgid!r}"
        assert set(re.findall(r"%\(\w+\)[sd]", msgid)) == set(re.findall(r"%\(\w+\)[sd]", translated[msgid]))

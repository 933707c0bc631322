"""Client API media: upload (v2 and v1), show, describe, delete, attach to a status, and
refusal of oversized or non-image files with nothing stored."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from microblog.models import Media, Post
from tests.microblog.api.conftest_p4 import png_bytes, stored_files

pytestmark = pytest.mark.django_db

# The MediaAttachment entity (docs.joinmastodon.org/entities/MediaAttachment).
MEDIA_KEYS = {"id", "type", "url", "preview_url", "remote_url", "text_url", "meta", "description", "blurhash"}


def png(name: str = "pic.png", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(**kwargs), content_type="image/png")


def upload(client: Client, path: str = "/api/v2/media", **data):
    return client.post(path, {"file": png(), **data})


def test_upload_png_is_processed_synchronously(alice, api_as, media_root):
    """A PNG upload answers 200 with the full MediaAttachment and stores the file and thumbnail."""
    response = upload(api_as(alice), description="a red square")
    assert response.status_code == 200, response.content
    data = response.json()
    assert MEDIA_KEYS <= set(data)
    assert data["type"] == "image" and data["description"] == "a red square" and data["url"].startswith("http")
    assert data["meta"]["original"]["width"] == 32 and data["meta"]["original"]["height"] == 24
    item = Media.objects.get(pk=int(data["id"]))
    assert item.owner == alice and item.post is None
    assert len(stored_files(media_root)) == 2  # the image and its thumbnail


def test_upload_v1_alias(alice, api_as, media_root):
    """``POST /api/v1/media`` behaves like v2."""
    response = upload(api_as(alice), "/api/v1/media")
    assert response.status_code == 200 and response.json()["type"] == "image"


def test_oversized_upload_is_422_and_nothing_stored(alice, api_as, media_root, settings):
    """A file over ``MICROBLOG_MAX_IMAGE_BYTES`` is refused with a clear error; no row, no file."""
    settings.MICROBLOG_MAX_IMAGE_BYTES = 200
    response = api_as(alice).post("/api/v2/media", {"file": png(size=(400, 400))})
    assert response.status_code == 422
    assert response.json()["error"].startswith("Validation failed: ") and len(response.json()["error"]) > 20
    assert not Media.objects.exists() and stored_files(media_root) == []


def test_non_image_upload_is_422_and_nothing_stored(alice, api_as, media_root):
    """A text file named like an image is refused; no row, no file."""
    fake = SimpleUploadedFile("evil.png", b"<script>alert(1)</script>", content_type="image/png")
    response = api_as(alice).post("/api/v2/media", {"file": fake})
    assert response.status_code == 422 and response.json()["error"].startswith("Validation failed: ")
    assert not Media.objects.exists() and stored_files(media_root) == []


def test_upload_without_file_is_422(alice, api_as, media_root):
    """No ``file`` part: 422 ``Validation failed: File can't be blank``."""
    response = api_as(alice).post("/api/v2/media", {"description": "nothing"})
    assert response.status_code == 422 and response.json() == {"error": "Validation failed: File can't be blank"}
    assert not Media.objects.exists()


def test_upload_needs_token_and_write_media_scope(alice, api_as, media_root):
    """No token is 401, a read-only token 403; nothing stored."""
    assert Client().post("/api/v2/media", {"file": png()}).status_code == 401
    assert api_as(alice, "read").post("/api/v2/media", {"file": png()}).status_code == 403
    assert not Media.objects.exists() and stored_files(media_root) == []


def test_show_and_describe_unattached_media(alice, bob, api_as, media_root):
    """The owner reads and re-describes an unattached upload; others get 404."""
    client = api_as(alice)
    media_id = upload(client).json()["id"]
    assert client.get(f"/api/v1/media/{media_id}").json()["id"] == media_id
    response = client.put(
        f"/api/v1/media/{media_id}", json.dumps({"description": "new alt"}), content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["description"] == "new alt"
    assert Media.objects.get(pk=int(media_id)).description == "new alt"
    assert api_as(bob).get(f"/api/v1/media/{media_id}").status_code == 404


def test_describe_too_long_is_422(alice, api_as, media_root):
    """Alt text over 1500 characters is refused and the old one stays."""
    client = api_as(alice)
    media_id = upload(client, description="old").json()["id"]
    response = client.put(
        f"/api/v1/media/{media_id}", "description=" + "x" * 1501, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 422
    assert Media.objects.get(pk=int(media_id)).description == "old"


def test_attach_media_to_status(alice, api_as, media_root):
    """``media_ids[]`` attaches uploads in order; attached media leave ``/api/v1/media/:id``."""
    client = api_as(alice)
    first, second = upload(client).json()["id"], upload(client).json()["id"]
    response = client.post("/api/v1/statuses", {"status": "", "media_ids[]": [second, first]})
    assert response.status_code == 200, response.content
    assert [m["id"] for m in response.json()["media_attachments"]] == [second, first]
    assert client.get(f"/api/v1/media/{first}").status_code == 404
    response = client.delete(f"/api/v1/media/{first}")
    assert response.status_code == 422 and Media.objects.filter(pk=int(first)).exists()


def test_attach_someone_elses_media_is_422(alice, bob, api_as, media_root):
    """Another member's upload cannot be attached: 422 and no status stored."""
    media_id = upload(api_as(alice)).json()["id"]
    response = api_as(bob).post("/api/v1/statuses", {"status": "mine now", "media_ids[]": [media_id]})
    assert response.status_code == 422 and not Post.objects.exists()
    assert Media.objects.get(pk=int(media_id)).post is None


def test_delete_unattached_media(alice, api_as, media_root):
    """Deleting an unattached upload answers ``{}`` and removes the row and its files."""
    client = api_as(alice)
    media_id = upload(client).json()["id"]
    response = client.delete(f"/api/v1/media/{media_id}")
    assert response.status_code == 200 and response.json() == {}
    assert not Media.objects.exists() and stored_files(media_root) == []


def test_delete_and_redraft_reuses_media(alice, api_as, media_root):
    """Deleting a status keeps its attachments for the redraft, which can attach them again."""
    client = api_as(alice)
    media_id = upload(client).json()["id"]
    status = client.post("/api/v1/statuses", {"status": "v1", "media_ids[]": [media_id]}).json()
    deleted = client.delete(f"/api/v1/statuses/{status['id']}").json()
    assert deleted["text"] == "v1" and [m["id"] for m in deleted["media_attachments"]] == [media_id]
    redraft = client.post("/api/v1/statuses", {"status": deleted["text"], "media_ids[]": [media_id]})
    assert redraft.status_code == 200 and [m["id"] for m in redraft.json()["media_attachments"]] == [media_id]


def test_delete_status_with_delete_media_removes_files(alice, api_as, media_root):
    """``delete_media=true`` removes the attachments and their files with the status."""
    client = api_as(alice)
    media_id = upload(client).json()["id"]
    status = client.post("/api/v1/statuses", {"status": "bye", "media_ids[]": [media_id]}).json()
    assert client.delete(f"/api/v1/statuses/{status['id']}?delete_media=true").status_code == 200
    assert not Media.objects.exists() and stored_files(media_root) == []

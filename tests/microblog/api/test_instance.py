"""Instance endpoints: version string, limits, stats; and a real client (Mastodon.py)."""

from __future__ import annotations

import re

import pytest

from microblog.api.instance import version

VERSION_RE = re.compile(r"^4\.3\.0 \(compatible; Redcloud \d+\.\d+\.\d+\)$")


def test_instance_v1_shape_and_limits(anon, local_member, make_remote_actor, settings):
    """v1 answers Mastodon's keys, the compatible version string and the real limits."""
    make_remote_actor("bob", domain="remote.example")
    response = anon.get("/api/v1/instance")
    assert response.status_code == 200
    data = response.json()
    assert data["version"] == f"4.3.0 (compatible; Redcloud {settings.NODE_VERSION})"
    assert VERSION_RE.match(data["version"])
    assert data["uri"] == settings.NODE_DOMAIN
    for key in ("title", "short_description", "description", "email", "languages", "registrations",
                "approval_required", "thumbnail", "urls"):  # fmt: skip
        assert key in data
    assert data["stats"] == {"user_count": 1, "status_count": 0, "domain_count": 1}
    config = data["configuration"]
    assert config["statuses"] == {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23}
    assert "image/jpeg" in config["media_attachments"]["supported_mime_types"]
    assert config["media_attachments"]["image_size_limit"] == settings.MICROBLOG_MAX_IMAGE_BYTES
    polls = config["polls"]
    assert polls["max_options"] == 10
    assert polls["min_expiration"] == 300
    assert polls["max_expiration"] == 2629746
    assert polls["max_characters_per_option"] == settings.MICROBLOG_MAX_POLL_OPTION_CHARS
    assert "streaming_api" not in data["urls"]


def test_instance_v2_shape(anon, local_member, settings):
    """v2 answers domain, version, usage, registrations, configuration with limits, api_versions."""
    data = anon.get("/api/v2/instance").json()
    assert data["domain"] == settings.NODE_DOMAIN
    assert VERSION_RE.match(data["version"])
    assert data["configuration"]["statuses"]["max_characters"] == 500
    assert data["configuration"]["polls"]["max_options"] == 10
    assert set(data["registrations"]) >= {"enabled", "approval_required"}
    assert data["api_versions"] == {"mastodon": 2}
    assert "users" in data["usage"]


def test_peers_lists_known_domains(anon, make_remote_actor):
    """``/api/v1/instance/peers`` lists the domains of known remote actors once each."""
    make_remote_actor("bob", domain="b.example")
    make_remote_actor("carol", domain="b.example")
    make_remote_actor("dan", domain="a.example")
    assert anon.get("/api/v1/instance/peers").json() == ["a.example", "b.example"]


def test_startup_collections_are_empty_lists(anon, api):
    """Custom emojis, announcements and filters answer ``[]`` (Tusky and Elk call them)."""
    for path in ("/api/v1/custom_emojis", "/api/v1/filters", "/api/v2/filters", "/api/v1/announcements"):
        response = api.get(path)
        assert response.status_code == 200
        assert response.json() == []


def test_version_uses_node_version(settings):
    """The version string follows ``settings.NODE_VERSION``."""
    settings.NODE_VERSION = "9.8.7"
    assert version() == "4.3.0 (compatible; Redcloud 9.8.7)"


@pytest.mark.django_db(transaction=True)
def test_mastodon_py_reads_instance_and_credentials(live_server, make_local_member, settings):
    """The Mastodon.py library, unchanged, verifies credentials and reads the instance."""
    from mastodon import Mastodon

    settings.NODE_BASE_URL = live_server.url
    actor = make_local_member("alice")
    import secrets
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model

    app = get_application_model().objects.create(
        name="mpy", redirect_uris="urn:ietf:wg:oauth:2.0:oob", client_type="confidential",
        authorization_grant_type="authorization-code",
    )  # fmt: skip
    raw = secrets.token_urlsafe(24)
    get_access_token_model().objects.create(
        user=actor.user, application=app, token=raw, scope="read write follow", expires=timezone.now() + timedelta(1)
    )
    client = Mastodon(api_base_url=live_server.url, access_token=raw, request_timeout=10)
    me = client.account_verify_credentials()
    assert me.username == "alice"
    assert me.acct == "alice"
    assert me.source.note == ""
    info = client.instance()
    assert VERSION_RE.match(info.version)
    assert client.retrieve_mastodon_version() == "4.3.0"
    found = client.account_lookup("alice")
    assert str(found.id) == str(actor.pk)


@pytest.mark.django_db(transaction=True)
def test_mastodon_py_registers_and_logs_in(live_server, make_local_member, settings):
    """Mastodon.py registers an app and logs in with e-mail and password, as scripts do."""
    from mastodon import Mastodon

    settings.NODE_BASE_URL = live_server.url
    actor = make_local_member("carol")
    actor.user.email = "carol@example.org"
    actor.user.save()
    client_id, client_secret = Mastodon.create_app(
        "redcloud-test", api_base_url=live_server.url, scopes=["read", "write", "follow"]
    )
    client = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=live_server.url)
    token = client.log_in("carol@example.org", "x-Secret-123", scopes=["read", "write", "follow"])
    assert token
    assert client.account_verify_credentials().username == "carol"
    assert "/oauth/authorize" in client.auth_request_url(scopes=["read"])

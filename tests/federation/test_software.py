"""Peers' software from their NodeInfo (``federation.software``): learned and re-checked by a
beat job, and which group announce forms an inbox needs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from federation import software
from federation.models import Domain, Follow, FollowState
from tests.federation.fakeserver import FakeServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(settings):
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    with FakeServer() as fake:
        yield fake


def _serve_nodeinfo(server: FakeServer, name: str, *, href: str | None = None) -> None:
    link = href or server.url("/nodeinfo/2.1")
    server.route("GET", "/.well-known/nodeinfo", json={"links": [{"rel": "x/2.1", "href": link}]})
    server.route("GET", "/nodeinfo/2.1", json={"version": "2.1", "software": {"name": name, "version": "0.19.5"}})


def test_learn_records_the_software_name(server):
    _serve_nodeinfo(server, "Lemmy")
    assert software.learn(server.url("")) == "lemmy"
    row = Domain.objects.get(host=server.netloc)
    assert row.software == "lemmy" and row.software_checked_at is not None


def test_learn_reads_no_document_on_another_host(server):
    _serve_nodeinfo(server, "mastodon", href="http://elsewhere.example/nodeinfo/2.1")
    assert software.learn(server.url("")) == ""
    assert Domain.objects.get(host=server.netloc).software == ""
    assert server.requests_to("/nodeinfo/2.1") == []


def test_unreachable_nodeinfo_keeps_what_was_known(server):
    Domain.objects.create(host=server.netloc, software="mastodon")
    server.route("GET", "/.well-known/nodeinfo", status=500)
    assert software.learn(server.url("")) == "mastodon"
    row = Domain.objects.get(host=server.netloc)
    assert row.software == "mastodon" and row.software_checked_at is not None


def test_sweep_checks_follower_hosts_once_a_week(server, local_member, make_remote_actor):
    """Hosts of our actors' followers are read once; again only after ``RECHECK``."""
    _serve_nodeinfo(server, "redcloud")
    follower, _ = make_remote_actor("bob", domain=server.netloc, scheme="http")
    Follow.objects.create(
        follower=follower, target=local_member, ap_id=f"{follower.ap_id}#f", state=FollowState.ACCEPTED
    )
    assert software.sweep() == 1
    assert Domain.objects.get(host=server.netloc).software == "redcloud"
    assert software.sweep() == 0
    Domain.objects.update(software_checked_at=timezone.now() - software.RECHECK - timedelta(minutes=1))
    assert software.sweep() == 1
    assert len(server.requests_to("/.well-known/nodeinfo")) == 2


def test_announce_forms_follow_the_known_software(db):
    Domain.objects.create(host="county.example", software="redcloud")
    Domain.objects.create(host="lemmy.example", software="lemmy")
    Domain.objects.create(host="toot.example", software="mastodon")
    Domain.objects.create(host="new.example", software="")
    inboxes = [
        f"https://{h}/inbox" for h in ("county.example", "lemmy.example", "toot.example", "new.example", "x.example")
    ]
    forms = software.announce_forms(inboxes)
    assert [sorted(forms[i]) for i in inboxes] == [
        ["create"],
        ["create"],
        ["plain"],
        ["create", "plain"],
        ["create", "plain"],
    ]

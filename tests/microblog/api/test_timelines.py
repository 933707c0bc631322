"""Client API timelines: home, public (local/remote/only_media), hashtag, and Mastodon-style
pagination with ``max_id``/``since_id``/``min_id``/``limit`` and ``Link`` headers."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from federation.models import Follow, FollowState
from microblog.models import Media, Post

pytestmark = pytest.mark.django_db


def post_status(client: Client, **data) -> dict:
    response = client.post("/api/v1/statuses", data)
    assert response.status_code == 200, response.content
    return response.json()


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [s["id"] for s in response.json()]


def links(response) -> dict[str, str]:
    """``{"next": url, "prev": url}`` from a ``Link`` header."""
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.get("Link", ""))}


@pytest.fixture
def five(alice, api_as) -> list[str]:
    """Five public statuses by alice, oldest first."""
    client = api_as(alice)
    return [post_status(client, status=f"post {i}")["id"] for i in range(5)]


def test_public_timeline_pages_with_link_header(five):
    """``limit`` cuts the page; ``Link`` next (``max_id``) and prev (``min_id``) lead on."""
    response = Client().get("/api/v1/timelines/public", {"limit": 2})
    assert ids(response) == [five[4], five[3]]
    rel = links(response)
    assert f"max_id={five[3]}" in rel["next"] and f"min_id={five[4]}" in rel["prev"]
    assert "limit=2" in rel["next"]
    older = Client().get(rel["next"])
    assert ids(older) == [five[2], five[1]]
    newer = Client().get(links(older)["prev"])
    assert ids(newer) == [five[4], five[3]]


def test_public_timeline_min_id_and_since_id(five):
    """``min_id`` gives the statuses just after it; ``since_id`` the newest above it."""
    just_after = Client().get("/api/v1/timelines/public", {"min_id": five[0], "limit": 2})
    assert ids(just_after) == [five[2], five[1]]
    newest = Client().get("/api/v1/timelines/public", {"since_id": five[0], "limit": 2})
    assert ids(newest) == [five[4], five[3]]
    assert ids(Client().get("/api/v1/timelines/public", {"max_id": five[0]})) == []


def test_empty_page_has_no_link_header(five):
    """A page past the end is empty and carries no ``Link``."""
    response = Client().get("/api/v1/timelines/public", {"max_id": five[0]})
    assert response.json() == [] and not response.get("Link")


def test_public_timeline_local_and_remote_filters(alice, api_as, make_remote_actor):
    """``local=true`` shows this node's statuses only, ``remote=true`` the others only; the
    ``Link`` header keeps the filter."""
    mine = post_status(api_as(alice), status="local news")["id"]
    remote_actor, _ = make_remote_actor("zed")
    theirs = Post.objects.create(
        ap_id="https://remote.example/notes/1", author=remote_actor, content="<p>far away</p>", visibility="public"
    )
    assert ids(Client().get("/api/v1/timelines/public", {"local": "true"})) == [mine]
    assert ids(Client().get("/api/v1/timelines/public", {"remote": "true"})) == [str(theirs.pk)]
    assert set(ids(Client().get("/api/v1/timelines/public"))) == {mine, str(theirs.pk)}
    assert "local=true" in links(Client().get("/api/v1/timelines/public", {"local": "true"}))["next"]


def test_public_timeline_only_media(alice, api_as):
    """``only_media=true`` keeps statuses with attachments only."""
    client = api_as(alice)
    post_status(client, status="text only")
    with_media = post_status(client, status="picture")
    Media.objects.create(owner=alice, post_id=int(with_media["id"]), remote_url="https://example.org/a.png")
    assert ids(Client().get("/api/v1/timelines/public", {"only_media": "1"})) == [with_media["id"]]


def test_home_timeline_shows_followed_accounts(alice, bob, carol, api_as):
    """Home holds one's own and followed accounts' statuses (followers-only included), not others'."""
    Follow.objects.create(follower=bob, target=alice, state=FollowState.ACCEPTED)
    followed = post_status(api_as(alice), status="from alice")["id"]
    private = post_status(api_as(alice), status="friends", visibility="private")["id"]
    post_status(api_as(carol), status="from carol")
    own = post_status(api_as(bob), status="from bob")["id"]
    assert ids(api_as(bob).get("/api/v1/timelines/home")) == [own, private, followed]
    assert ids(api_as(carol).get("/api/v1/timelines/home")) != [] and private not in ids(
        api_as(carol).get("/api/v1/timelines/home")
    )


def test_home_timeline_pages_with_link_header(alice, api_as):
    """Home pagination follows ``Link`` like the public timeline."""
    client = api_as(alice)
    made = [post_status(client, status=f"n{i}")["id"] for i in range(3)]
    first = client.get("/api/v1/timelines/home", {"limit": 2})
    assert ids(first) == [made[2], made[1]]
    assert ids(client.get(links(first)["next"])) == [made[0]]


def test_home_timeline_requires_token_and_scope(alice, api_as):
    """Home without a token is 401; with a write-only token 403."""
    response = Client().get("/api/v1/timelines/home")
    assert response.status_code == 401 and response.json() == {"error": "The access token is invalid"}
    assert api_as(alice, "write").get("/api/v1/timelines/home").status_code == 403
    assert api_as(alice, "read:statuses").get("/api/v1/timelines/home").status_code == 200


def test_public_timeline_with_token_lacking_read_scope_is_403(alice, api_as):
    """A token sent to a public endpoint must still carry ``read:statuses``."""
    assert api_as(alice, "write").get("/api/v1/timelines/public").status_code == 403


def test_hashtag_timeline(alice, api_as):
    """``/timelines/tag/:hashtag`` lists public statuses with the tag, case-insensitively;
    an unknown tag gives an empty list."""
    client = api_as(alice)
    tagged = post_status(client, status="about #Redcloud")["id"]
    post_status(client, status="untagged")
    post_status(client, status="hidden #redcloud", visibility="private")
    assert ids(Client().get("/api/v1/timelines/tag/redcloud")) == [tagged]
    assert ids(Client().get("/api/v1/timelines/tag/REDCLOUD")) == [tagged]
    assert ids(Client().get("/api/v1/timelines/tag/nothing")) == []

"""Client API search v2: full text in Chinese, accounts, hashtags, types, visibility, and
the anonymous restrictions on ``resolve`` and ``offset``."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def post_status(client: Client, **data) -> dict:
    response = client.post("/api/v1/statuses", data)
    assert response.status_code == 200, response.content
    return response.json()


def search(client: Client, **params) -> dict:
    response = client.get("/api/v2/search", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_chinese_substring_finds_post(alice, bob, api_as):
    """A search for 党员 finds a post containing 党员教育, for members and anonymously."""
    found = post_status(api_as(alice), status="本周开展党员教育活动")
    post_status(api_as(alice), status="无关的内容")
    for client in (api_as(bob), Client()):
        data = search(client, q="党员")
        assert set(data) == {"accounts", "statuses", "hashtags"}
        assert [s["id"] for s in data["statuses"]] == [found["id"]]


def test_search_types_accounts_and_hashtags(alice, api_as):
    """``type`` restricts the answer to accounts, hashtags or statuses."""
    post_status(api_as(alice), status="talking about #alicespring and alice")
    accounts = search(api_as(alice), q="alice", type="accounts")
    assert [a["username"] for a in accounts["accounts"]] == ["alice"]
    assert accounts["statuses"] == [] and accounts["hashtags"] == []
    tags = search(api_as(alice), q="alicespring", type="hashtags")
    assert [t["name"] for t in tags["hashtags"]] == ["alicespring"] and tags["accounts"] == []
    assert set(tags["hashtags"][0]) >= {"name", "url", "history"}


def test_search_skips_statuses_the_viewer_cannot_see(alice, carol, api_as):
    """A followers-only status is not found by a non-follower, but by its author."""
    hidden = post_status(api_as(alice), status="秘密的党员会议", visibility="private")
    assert search(api_as(carol), q="党员", type="statuses")["statuses"] == []
    assert [s["id"] for s in search(api_as(alice), q="党员", type="statuses")["statuses"]] == [hidden["id"]]


def test_search_limit(alice, api_as):
    """``limit`` caps each category."""
    client = api_as(alice)
    for i in range(3):
        post_status(client, status=f"学习 {i}")
    assert len(search(client, q="学习", type="statuses", limit=2)["statuses"]) == 2


def test_empty_query_gives_empty_results(alice, api_as):
    """An empty ``q`` answers three empty lists."""
    assert search(api_as(alice), q="") == {"accounts": [], "statuses": [], "hashtags": []}


def test_anonymous_resolve_or_offset_is_401(alice):
    """Without a token, ``resolve`` and ``offset`` are refused with 401 (Mastodon 4)."""
    response = Client().get("/api/v2/search", {"q": "bob@remote.example", "resolve": "true"})
    assert response.status_code == 401 and "authentication" in response.json()["error"]
    assert Client().get("/api/v2/search", {"q": "x", "offset": "5"}).status_code == 401


def test_search_with_token_lacking_read_scope_is_403(alice, api_as):
    """A token without ``read:search`` is refused."""
    assert api_as(alice, "write").get("/api/v2/search", {"q": "x"}).status_code == 403
    assert api_as(alice, "read:search").get("/api/v2/search", {"q": "x"}).status_code == 200

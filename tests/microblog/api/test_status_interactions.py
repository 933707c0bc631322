"""Client API status interactions: favourite, reblog, bookmark, pin and their undos, who
favourited/boosted, and the bookmarks and favourites lists."""

from __future__ import annotations

import pytest
from django.test import Client

from federation.models import Follow, FollowState
from microblog.models import Bookmark, Favourite, Pin, Post

pytestmark = pytest.mark.django_db


def post_status(client: Client, **data) -> dict:
    response = client.post("/api/v1/statuses", data)
    assert response.status_code == 200, response.content
    return response.json()


def test_favourite_and_unfavourite_round_trip(alice, bob, api_as):
    """Favouriting sets ``favourited`` and the count; unfavouriting undoes both; both are idempotent."""
    created = post_status(api_as(alice), status="like me")
    client = api_as(bob)
    for _ in range(2):
        data = client.post(f"/api/v1/statuses/{created['id']}/favourite").json()
        assert data["favourited"] is True and data["favourites_count"] == 1
    assert Favourite.objects.filter(actor=bob).count() == 1
    for _ in range(2):
        data = client.post(f"/api/v1/statuses/{created['id']}/unfavourite").json()
        assert data["favourited"] is False and data["favourites_count"] == 0
    assert not Favourite.objects.exists()


def test_favourite_needs_favourites_scope(alice, bob, api_as):
    """A token with only ``write:statuses`` cannot favourite: 403 and nothing stored."""
    created = post_status(api_as(alice), status="x")
    response = api_as(bob, "write:statuses").post(f"/api/v1/statuses/{created['id']}/favourite")
    assert response.status_code == 403 and not Favourite.objects.exists()


def test_favourite_invisible_status_is_404(alice, carol, api_as):
    """Favouriting a followers-only status one cannot see: 404 and nothing stored."""
    hidden = post_status(api_as(alice), status="x", visibility="private")
    response = api_as(carol).post(f"/api/v1/statuses/{hidden['id']}/favourite")
    assert response.status_code == 404 and response.json() == {"error": "Record not found"}
    assert not Favourite.objects.exists()


def test_reblog_returns_boost_wrapping_original(alice, bob, api_as):
    """A boost answers a new status whose ``reblog`` is the original, marked reblogged."""
    created = post_status(api_as(alice), status="boost me")
    data = api_as(bob).post(f"/api/v1/statuses/{created['id']}/reblog").json()
    assert data["id"] != created["id"] and data["reblog"]["id"] == created["id"]
    assert data["reblog"]["reblogged"] is True and data["reblog"]["reblogs_count"] == 1
    assert data["account"]["id"] == str(bob.pk)
    undone = api_as(bob).post(f"/api/v1/statuses/{created['id']}/unreblog").json()
    assert undone["id"] == created["id"] and undone["reblogged"] is False and undone["reblogs_count"] == 0
    assert not Post.objects.filter(reblog_of_id=int(created["id"]), deleted_at__isnull=True).exists()


def test_reblog_of_followers_only_status_is_403(alice, bob, api_as):
    """A follower may see but not boost a followers-only status: 403 and no boost stored."""
    Follow.objects.create(follower=bob, target=alice, state=FollowState.ACCEPTED)
    created = post_status(api_as(alice), status="x", visibility="private")
    response = api_as(bob).post(f"/api/v1/statuses/{created['id']}/reblog")
    assert response.status_code == 403 and response.json() == {"error": "This action is not allowed"}
    assert not Post.objects.filter(reblog_of__isnull=False).exists()


def test_bookmark_round_trip_and_list(alice, bob, api_as):
    """Bookmarks set ``bookmarked``, show in ``/api/v1/bookmarks`` and go away on unbookmark."""
    created = post_status(api_as(alice), status="keep")
    client = api_as(bob)
    assert client.post(f"/api/v1/statuses/{created['id']}/bookmark").json()["bookmarked"] is True
    listed = client.get("/api/v1/bookmarks")
    assert [s["id"] for s in listed.json()] == [created["id"]]
    assert 'rel="next"' in listed["Link"]
    assert client.post(f"/api/v1/statuses/{created['id']}/unbookmark").json()["bookmarked"] is False
    assert client.get("/api/v1/bookmarks").json() == [] and not Bookmark.objects.exists()


def test_bookmarks_need_read_bookmarks_scope(bob, api_as):
    """Listing bookmarks with a token lacking ``read:bookmarks``: 403."""
    assert api_as(bob, "write").get("/api/v1/bookmarks").status_code == 403
    assert api_as(bob, "read:bookmarks").get("/api/v1/bookmarks").status_code == 200


def test_favourites_list_newest_like_first(alice, bob, api_as):
    """``/api/v1/favourites`` lists liked statuses by like order, newest first, paginated."""
    a = api_as(alice)
    first, second = post_status(a, status="one"), post_status(a, status="two")
    client = api_as(bob)
    client.post(f"/api/v1/statuses/{second['id']}/favourite")
    client.post(f"/api/v1/statuses/{first['id']}/favourite")
    assert [s["id"] for s in client.get("/api/v1/favourites").json()] == [first["id"], second["id"]]
    page = client.get("/api/v1/favourites", {"limit": 1})
    assert [s["id"] for s in page.json()] == [first["id"]]
    newest_fav = Favourite.objects.get(post_id=int(first["id"]))
    assert f"max_id={newest_fav.pk}" in page["Link"]


def test_favourited_by_and_reblogged_by_list_accounts(alice, bob, carol, api_as):
    """Who liked and who boosted a status are listed as accounts, also anonymously."""
    created = post_status(api_as(alice), status="popular")
    api_as(bob).post(f"/api/v1/statuses/{created['id']}/favourite")
    api_as(carol).post(f"/api/v1/statuses/{created['id']}/favourite")
    api_as(carol).post(f"/api/v1/statuses/{created['id']}/reblog")
    liked = Client().get(f"/api/v1/statuses/{created['id']}/favourited_by").json()
    assert [a["username"] for a in liked] == ["carol", "bob"]
    boosted = Client().get(f"/api/v1/statuses/{created['id']}/reblogged_by").json()
    assert [a["username"] for a in boosted] == ["carol"]


def test_favourited_by_of_invisible_status_is_404(alice, carol, api_as):
    """The likers of a status one cannot see are 404."""
    hidden = post_status(api_as(alice), status="x", visibility="private")
    assert api_as(carol).get(f"/api/v1/statuses/{hidden['id']}/favourited_by").status_code == 404


def test_pin_and_unpin_own_status(alice, api_as):
    """Pinning sets ``pinned``; unpinning clears it."""
    created = post_status(api_as(alice), status="featured")
    assert api_as(alice).post(f"/api/v1/statuses/{created['id']}/pin").json()["pinned"] is True
    assert Pin.objects.filter(actor=alice).count() == 1
    assert api_as(alice).post(f"/api/v1/statuses/{created['id']}/unpin").json()["pinned"] is False
    assert not Pin.objects.exists()


def test_pin_someone_elses_status_is_422(alice, bob, api_as):
    """Pinning another member's status: 422 with Mastodon's message and nothing stored."""
    created = post_status(api_as(alice), status="not yours")
    response = api_as(bob).post(f"/api/v1/statuses/{created['id']}/pin")
    assert response.status_code == 422
    assert response.json() == {"error": "Validation failed: Someone else's post cannot be pinned"}
    assert not Pin.objects.exists()


def test_pin_needs_write_accounts_scope(alice, api_as):
    """Pinning needs ``write:accounts`` (Mastodon's scope for pins)."""
    created = post_status(api_as(alice), status="x")
    assert api_as(alice, "write:statuses").post(f"/api/v1/statuses/{created['id']}/pin").status_code == 403
    assert not Pin.objects.exists()

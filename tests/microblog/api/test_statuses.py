"""Client API statuses: create (idempotency, validation), show, edit/history/source, delete,
context, and visibility of followers-only and direct statuses."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from federation.models import Follow, FollowState
from microblog.models import Post, PostEdit

pytestmark = pytest.mark.django_db

# The Status entity's attributes (docs.joinmastodon.org/entities/Status) as seen by a signed-in
# viewer.
STATUS_KEYS = {
    "id", "uri", "url", "created_at", "account", "content", "visibility", "sensitive", "spoiler_text",
    "media_attachments", "application", "mentions", "tags", "emojis", "reblogs_count", "favourites_count",
    "replies_count", "in_reply_to_id", "in_reply_to_account_id", "reblog", "poll", "card", "language",
    "edited_at", "favourited", "reblogged", "muted", "bookmarked", "pinned", "filtered",
}  # fmt: skip


def post_status(client: Client, **data) -> dict:
    response = client.post("/api/v1/statuses", data)
    assert response.status_code == 200, response.content
    return response.json()


def follow(follower, target) -> None:
    Follow.objects.create(follower=follower, target=target, state=FollowState.ACCEPTED)


def test_create_status_returns_mastodon_status_entity(alice, api_as):
    """A status posted with form data is stored and answered with every Status attribute."""
    data = post_status(api_as(alice), status="Hello #redcloud", spoiler_text="cw", language="en")
    assert STATUS_KEYS <= set(data)
    post = Post.objects.get(pk=int(data["id"]))
    assert post.author == alice and post.source == "Hello #redcloud"
    assert "Hello" in data["content"] and data["spoiler_text"] == "cw" and data["sensitive"] is True
    assert data["visibility"] == "public" and data["account"]["id"] == str(alice.pk)
    assert [t["name"] for t in data["tags"]] == ["redcloud"]


def test_create_status_accepts_json_body_with_poll(alice, api_as):
    """A JSON body with a nested ``poll`` creates a poll status (as Elk and Phanpy send it)."""
    body = {"status": "Tea or coffee?", "poll": {"options": ["tea", "coffee"], "expires_in": 3600, "multiple": True}}
    response = api_as(alice).post("/api/v1/statuses", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    poll = response.json()["poll"]
    assert [o["title"] for o in poll["options"]] == ["tea", "coffee"] and poll["multiple"] is True


def test_create_status_accepts_form_poll_parameters(alice, api_as):
    """Rails-style ``poll[options][]`` form fields (Mastodon.py, toot) create the poll."""
    data = post_status(
        api_as(alice), **{"status": "Pick", "poll[options][]": ["a", "b", "c"], "poll[expires_in]": "600"}
    )
    assert [o["title"] for o in data["poll"]["options"]] == ["a", "b", "c"] and data["poll"]["multiple"] is False


def test_create_status_with_same_idempotency_key_returns_first(alice, api_as):
    """Posting twice with one ``Idempotency-Key`` returns the same status and stores one post."""
    client = api_as(alice)
    first = client.post("/api/v1/statuses", {"status": "once"}, HTTP_IDEMPOTENCY_KEY="k-1").json()
    second = client.post("/api/v1/statuses", {"status": "once"}, HTTP_IDEMPOTENCY_KEY="k-1").json()
    assert first["id"] == second["id"]
    assert Post.objects.filter(author=alice).count() == 1
    third = client.post("/api/v1/statuses", {"status": "once"}, HTTP_IDEMPOTENCY_KEY="k-2").json()
    assert third["id"] != first["id"]


def test_create_status_without_token_is_401(alice):
    """No token: 401 with Mastodon's message and nothing stored."""
    response = Client().post("/api/v1/statuses", {"status": "hi"})
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}
    assert not Post.objects.exists()


def test_create_status_with_bad_token_is_401(alice):
    """An unknown token: 401 and nothing stored."""
    response = Client(HTTP_AUTHORIZATION="Bearer nope").post("/api/v1/statuses", {"status": "hi"})
    assert response.status_code == 401 and response.json()["error"] == "The access token is invalid"
    assert not Post.objects.exists()


def test_create_status_with_read_scope_is_403(alice, api_as):
    """A read-only token cannot post: 403 and nothing stored."""
    response = api_as(alice, "read").post("/api/v1/statuses", {"status": "hi"})
    assert response.status_code == 403
    assert response.json() == {"error": "This action is outside the authorized scopes"}
    assert not Post.objects.exists()


def test_create_status_with_granular_scope_is_allowed(alice, api_as):
    """``write:statuses`` alone is enough to post."""
    assert api_as(alice, "write:statuses").post("/api/v1/statuses", {"status": "hi"}).status_code == 200


def test_create_blank_status_is_422(alice, api_as):
    """An empty status: 422 ``Validation failed: Text can't be blank`` and nothing stored."""
    response = api_as(alice).post("/api/v1/statuses", {"status": "  "})
    assert response.status_code == 422
    assert response.json() == {"error": "Validation failed: Text can't be blank"}
    assert not Post.objects.exists()


def test_create_too_long_status_is_422(alice, api_as):
    """More than 500 characters: 422 with the character limit and nothing stored."""
    response = api_as(alice).post("/api/v1/statuses", {"status": "x" * 501})
    assert response.status_code == 422
    assert response.json()["error"] == "Validation failed: Text character limit of 500 exceeded"
    assert not Post.objects.exists()


def test_create_status_with_bad_visibility_is_422(alice, api_as):
    """An unknown visibility: 422 and nothing stored."""
    response = api_as(alice).post("/api/v1/statuses", {"status": "x", "visibility": "everyone"})
    assert response.status_code == 422 and response.json()["error"].startswith("Validation failed")
    assert not Post.objects.exists()


def test_create_status_with_unknown_media_is_422(alice, api_as):
    """A ``media_ids[]`` that is not the caller's upload: 422 and nothing stored."""
    response = api_as(alice).post("/api/v1/statuses", {"status": "x", "media_ids[]": ["999"]})
    assert response.status_code == 422 and "999" in response.json()["error"]
    assert not Post.objects.exists()


def test_create_poll_with_one_option_is_422(alice, api_as):
    """A poll with a single option: 422 and nothing stored."""
    response = api_as(alice).post(
        "/api/v1/statuses", {"status": "x", "poll[options][]": ["only"], "poll[expires_in]": "600"}
    )
    assert response.status_code == 422 and response.json()["error"].startswith("Validation failed")
    assert not Post.objects.exists()


def test_reply_links_parent_and_counts(alice, bob, api_as):
    """A reply names its parent and its parent's author, and bumps the parent's replies count."""
    parent = post_status(api_as(alice), status="root")
    reply = post_status(api_as(bob), status="@alice answer", in_reply_to_id=parent["id"])
    assert reply["in_reply_to_id"] == parent["id"] and reply["in_reply_to_account_id"] == str(alice.pk)
    assert Post.objects.get(pk=int(parent["id"])).replies_count == 1


def test_reply_to_invisible_status_is_404(alice, bob, carol, api_as):
    """Replying to a followers-only status one cannot see: 404 with Mastodon's message, nothing stored."""
    hidden = post_status(api_as(alice), status="friends only", visibility="private")
    response = api_as(carol).post("/api/v1/statuses", {"status": "hi", "in_reply_to_id": hidden["id"]})
    assert response.status_code == 404
    assert response.json() == {"error": "The post you are trying to reply to does not appear to exist."}
    assert not Post.objects.filter(author=carol).exists()


def test_show_public_status_anonymously(alice, api_as):
    """A public status is readable without a token (no viewer flags then)."""
    created = post_status(api_as(alice), status="open")
    response = Client().get(f"/api/v1/statuses/{created['id']}")
    assert response.status_code == 200 and response.json()["id"] == created["id"]
    assert "favourited" not in response.json()


def test_show_missing_status_is_404(alice, api_as):
    """An unknown or malformed id: 404 ``Record not found``."""
    for bad in ("424242", "abc"):
        response = api_as(alice).get(f"/api/v1/statuses/{bad}")
        assert response.status_code == 404 and response.json() == {"error": "Record not found"}


def test_followers_only_status_hidden_from_non_follower(alice, bob, carol, api_as):
    """A followers-only status is 404 for a non-follower and anonymous, 200 for a follower."""
    follow(bob, alice)
    created = post_status(api_as(alice), status="for followers", visibility="private")
    url = f"/api/v1/statuses/{created['id']}"
    assert api_as(carol).get(url).status_code == 404
    assert api_as(carol).get(url).json() == {"error": "Record not found"}
    assert Client().get(url).status_code == 404
    assert api_as(bob).get(url).status_code == 200
    public_ids = [s["id"] for s in api_as(carol).get("/api/v1/timelines/public").json()]
    assert created["id"] not in public_ids


def test_direct_status_visible_only_to_mentioned(alice, bob, carol, api_as):
    """A direct status is visible to its author and the mentioned account only."""
    created = post_status(api_as(alice), status="@bob secret", visibility="direct")
    assert [m["acct"] for m in created["mentions"]] == ["bob"]
    url = f"/api/v1/statuses/{created['id']}"
    assert api_as(bob).get(url).status_code == 200
    assert api_as(alice).get(url).status_code == 200
    assert api_as(carol).get(url).status_code == 404
    assert Client().get(url).status_code == 404


def test_delete_own_status_returns_source_for_redraft(alice, api_as):
    """Deleting answers the status with its ``text`` and leaves a tombstone; it is then 404."""
    created = post_status(api_as(alice), status="to be redrafted")
    response = api_as(alice).delete(f"/api/v1/statuses/{created['id']}")
    assert response.status_code == 200
    assert response.json()["text"] == "to be redrafted" and response.json()["id"] == created["id"]
    assert Post.objects.get(pk=int(created["id"])).deleted_at is not None
    assert api_as(alice).get(f"/api/v1/statuses/{created['id']}").status_code == 404


def test_delete_someone_elses_status_is_404(alice, bob, api_as):
    """Another member's status cannot be deleted: 404 (as Mastodon) and it stays."""
    created = post_status(api_as(alice), status="mine")
    response = api_as(bob).delete(f"/api/v1/statuses/{created['id']}")
    assert response.status_code == 404 and response.json() == {"error": "Record not found"}
    assert Post.objects.get(pk=int(created["id"])).deleted_at is None


def test_edit_own_status_keeps_history(alice, api_as):
    """PUT changes the text, sets ``edited_at``; history lists both versions; source gives the text."""
    client = api_as(alice)
    created = post_status(client, status="first version")
    response = client.put(
        f"/api/v1/statuses/{created['id']}",
        "status=second+version&spoiler_text=cw",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    edited = response.json()
    assert "second version" in edited["content"] and edited["edited_at"] and edited["spoiler_text"] == "cw"
    history = client.get(f"/api/v1/statuses/{created['id']}/history").json()
    assert [("first" in h["content"], "second" in h["content"]) for h in history] == [(True, False), (False, True)]
    assert set(history[0]) >= {
        "content",
        "spoiler_text",
        "sensitive",
        "created_at",
        "account",
        "media_attachments",
        "emojis",
    }
    source = client.get(f"/api/v1/statuses/{created['id']}/source").json()
    assert source == {"id": created["id"], "text": "second version", "spoiler_text": "cw"}


def test_edit_with_json_body(alice, api_as):
    """PUT with a JSON body edits too (Elk sends JSON)."""
    created = post_status(api_as(alice), status="draft")
    response = api_as(alice).put(
        f"/api/v1/statuses/{created['id']}", json.dumps({"status": "final"}), content_type="application/json"
    )
    assert response.status_code == 200 and "final" in response.json()["content"]


def test_edit_someone_elses_status_is_404(alice, bob, api_as):
    """Another member's status cannot be edited: 404 and nothing changes."""
    created = post_status(api_as(alice), status="original")
    response = api_as(bob).put(
        f"/api/v1/statuses/{created['id']}", json.dumps({"status": "hacked"}), content_type="application/json"
    )
    assert response.status_code == 404 and response.json() == {"error": "Record not found"}
    post = Post.objects.get(pk=int(created["id"]))
    assert post.source == "original" and post.edited_at is None and not PostEdit.objects.exists()


def test_edit_to_blank_is_422(alice, api_as):
    """Editing to an empty text: 422 and the post is unchanged."""
    created = post_status(api_as(alice), status="keep me")
    response = api_as(alice).put(
        f"/api/v1/statuses/{created['id']}", json.dumps({"status": ""}), content_type="application/json"
    )
    assert response.status_code == 422 and response.json()["error"] == "Validation failed: Text can't be blank"
    assert Post.objects.get(pk=int(created["id"])).source == "keep me"


def test_history_of_unedited_status_has_one_version(alice, api_as):
    """A status never edited has a one-entry history."""
    created = post_status(api_as(alice), status="only")
    history = Client().get(f"/api/v1/statuses/{created['id']}/history").json()
    assert len(history) == 1 and "only" in history[0]["content"]


def test_context_lists_ancestors_and_descendants_in_thread_order(alice, bob, api_as):
    """Context gives the ancestors oldest first and the descendants depth first."""
    a, b = api_as(alice), api_as(bob)
    root = post_status(a, status="root")
    r1 = post_status(b, status="r1", in_reply_to_id=root["id"])
    r2 = post_status(a, status="r2", in_reply_to_id=root["id"])
    r11 = post_status(a, status="r11", in_reply_to_id=r1["id"])
    context = Client().get(f"/api/v1/statuses/{r1['id']}/context").json()
    assert [s["id"] for s in context["ancestors"]] == [root["id"]]
    assert [s["id"] for s in context["descendants"]] == [r11["id"]]
    full = a.get(f"/api/v1/statuses/{root['id']}/context").json()
    assert full["ancestors"] == []
    assert [s["id"] for s in full["descendants"]] == [r1["id"], r11["id"], r2["id"]]


def test_context_hides_private_replies_from_others(alice, bob, carol, api_as):
    """A followers-only reply in a thread is left out of the context for non-followers."""
    root = post_status(api_as(alice), status="root")
    hidden = post_status(api_as(bob), status="psst", visibility="private", in_reply_to_id=root["id"])
    ids = [s["id"] for s in api_as(carol).get(f"/api/v1/statuses/{root['id']}/context").json()["descendants"]]
    assert hidden["id"] not in ids
    own = [s["id"] for s in api_as(bob).get(f"/api/v1/statuses/{root['id']}/context").json()["descendants"]]
    assert hidden["id"] in own


def test_context_of_invisible_status_is_404(alice, carol, api_as):
    """The context of a status one cannot see is 404."""
    hidden = post_status(api_as(alice), status="x", visibility="private")
    assert api_as(carol).get(f"/api/v1/statuses/{hidden['id']}/context").status_code == 404


def test_get_several_statuses_skips_invisible(alice, carol, api_as):
    """``GET /api/v1/statuses?id[]=`` answers the visible ones, in the order asked."""
    a = post_status(api_as(alice), status="a")
    b = post_status(api_as(alice), status="b")
    hidden = post_status(api_as(alice), status="c", visibility="private")
    response = api_as(carol).get("/api/v1/statuses", {"id[]": [b["id"], hidden["id"], "999", a["id"]]})
    assert [s["id"] for s in response.json()] == [b["id"], a["id"]]


def test_context_includes_replies_stored_from_other_nodes(alice, api_as, make_remote_actor):
    """Remote parents and replies we hold are part of the context, also a reply stored only
    with its parent's id (``in_reply_to_ap_id``)."""
    zed, _ = make_remote_actor("zed", domain="county-b.example")
    remote_root = Post.objects.create(
        ap_id="https://county-b.example/notes/root", author=zed, content="<p>root</p>", visibility="public"
    )
    mine = post_status(api_as(alice), status="reply to zed", in_reply_to_id=str(remote_root.pk))
    remote_reply = Post.objects.create(
        ap_id="https://county-b.example/notes/2",
        author=zed,
        content="<p>thanks</p>",
        visibility="public",
        in_reply_to_ap_id=Post.objects.get(pk=int(mine["id"])).ap_id,
    )
    context = Client().get(f"/api/v1/statuses/{mine['id']}/context").json()
    assert [s["id"] for s in context["ancestors"]] == [str(remote_root.pk)]
    assert [s["id"] for s in context["descendants"]] == [str(remote_reply.pk)]
    assert context["ancestors"][0]["account"]["acct"] == "zed@county-b.example"

"""Account endpoints: credentials, profile updates (federated), lookup, follows, relationships,
search, follow requests, blocks and mutes."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from federation.models import ActorBlock, Delivery, Follow, FollowState, OutboxActivity
from microblog.models import Mute


def test_verify_credentials_has_source(api, local_member):
    """verify_credentials answers the Account plus ``source`` and ``role``."""
    data = api.get("/api/v1/accounts/verify_credentials").json()
    assert data["id"] == str(local_member.pk)
    assert data["username"] == data["acct"] == "alice"
    assert data["source"]["privacy"] == "public"
    assert data["source"]["follow_requests_count"] == 0
    assert data["avatar"].startswith("http")
    assert data["role"]["permissions"] == "0"


def test_update_credentials_changes_profile_and_federates(api, local_member, make_remote_actor):
    """A profile update changes the User and Actor and sends ``Update{Person}`` to remote followers."""
    remote, _ = make_remote_actor("bob", domain="remote.example")
    Follow.objects.create(follower=remote, target=local_member, state=FollowState.ACCEPTED, ap_id="https://r/f/1")
    response = api.patch(
        "/api/v1/accounts/update_credentials",
        {"display_name": "Alice Wang", "note": "Hello https://example.org", "locked": True,
         "source": {"language": "en", "privacy": "unlisted"}},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["display_name"] == "Alice Wang"
    assert data["locked"] is True
    assert '<a href="https://example.org"' in data["note"]
    assert data["source"]["note"] == "Hello https://example.org"
    assert data["source"]["language"] == "en"
    assert data["source"]["privacy"] == "unlisted"
    local_member.refresh_from_db()
    assert local_member.name == "Alice Wang"
    assert local_member.manually_approves_followers is True
    assert local_member.user.language == "en"
    update = OutboxActivity.objects.get(type="Update")
    assert update.body["object"]["name"] == "Alice Wang"
    assert update.body["object"]["manuallyApprovesFollowers"] is True
    assert list(Delivery.objects.filter(activity=update).values_list("inbox_url", flat=True)) == [
        remote.shared_inbox_url
    ]


def test_update_credentials_multipart_avatar(api, local_member):
    """An avatar uploaded as multipart (PATCH) is re-encoded and served as the avatar."""
    buf = io.BytesIO()
    Image.new("RGB", (600, 300), (10, 200, 30)).save(buf, format="JPEG")
    upload = SimpleUploadedFile("me.jpg", buf.getvalue(), content_type="image/jpeg")
    from django.test.client import MULTIPART_CONTENT, encode_multipart

    body = encode_multipart("BoUnDaRy", {"avatar": upload, "display_name": "A"})
    response = api.client.patch(
        "/api/v1/accounts/update_credentials",
        body,
        content_type="multipart/form-data; boundary=BoUnDaRy",
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )
    assert MULTIPART_CONTENT.startswith("multipart/form-data")
    assert response.status_code == 200, response.content
    local_member.refresh_from_db()
    assert local_member.user.avatar.name.endswith(".png")
    assert response.json()["avatar"] == local_member.icon_url
    with local_member.user.avatar.open("rb") as fh:
        assert Image.open(fh).size == (400, 400)


def test_update_credentials_rejects_bad_input(api, local_member):
    """Too long a display name or a non-image avatar is 422 and changes nothing."""
    response = api.patch("/api/v1/accounts/update_credentials", {"display_name": "x" * 31})
    assert response.status_code == 422
    assert response.json()["error"].startswith("Validation failed: Display name is too long")
    upload = SimpleUploadedFile("a.png", b"not an image", content_type="image/png")
    bad = api.client.post(
        "/api/v1/accounts/update_credentials", {"avatar": upload}, HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    assert bad.status_code == 422
    local_member.refresh_from_db()
    assert local_member.name == "Alice"
    assert not local_member.user.avatar
    assert not OutboxActivity.objects.exists()


def test_lookup_local_and_remote(anon, local_member, make_remote_actor):
    """lookup finds ``alice`` and ``bob@remote.example``; unknown is 404."""
    remote, _ = make_remote_actor("bob", domain="remote.example")
    assert anon.get("/api/v1/accounts/lookup", {"acct": "alice"}).json()["id"] == str(local_member.pk)
    data = anon.get("/api/v1/accounts/lookup", {"acct": "@bob@remote.example"}).json()
    assert data["acct"] == "bob@remote.example"
    assert data["id"] == str(remote.pk)
    assert anon.get("/api/v1/accounts/lookup", {"acct": "nobody"}).status_code == 404


def test_follow_local_account(api, local_member, make_local_member):
    """Following an unlocked local account is accepted at once; counts follow."""
    bob = make_local_member("bob")
    rel = api.post(f"/api/v1/accounts/{bob.pk}/follow").json()
    assert rel["following"] is True
    assert rel["requested"] is False
    assert api.get(f"/api/v1/accounts/{bob.pk}").json()["followers_count"] == 1
    followers = api.get(f"/api/v1/accounts/{bob.pk}/followers")
    assert [a["username"] for a in followers.json()] == ["alice"]
    assert 'rel="next"' in followers["Link"]
    following = api.get(f"/api/v1/accounts/{local_member.pk}/following").json()
    assert [a["username"] for a in following] == ["bob"]
    rel = api.post(f"/api/v1/accounts/{bob.pk}/unfollow").json()
    assert rel["following"] is False
    assert not Follow.objects.exists()


def test_follow_locked_account_then_authorize(api_for, local_member, make_local_member):
    """A locked account gets a request it can list and authorize."""
    bob = make_local_member("bob", manually_approves_followers=True)
    alice_api, bob_api = api_for(local_member), api_for(bob)
    assert alice_api.post(f"/api/v1/accounts/{bob.pk}/follow").json()["requested"] is True
    requests = bob_api.get("/api/v1/follow_requests").json()
    assert [a["username"] for a in requests] == ["alice"]
    rel = bob_api.post(f"/api/v1/follow_requests/{local_member.pk}/authorize").json()
    assert rel["followed_by"] is True
    assert Follow.objects.get().state == FollowState.ACCEPTED
    assert bob_api.post(f"/api/v1/follow_requests/{local_member.pk}/reject").status_code == 404


def test_follow_remote_account_sends_follow(api, local_member, make_remote_actor):
    """Following a remote account stores a pending follow and a ``Follow`` delivery to its inbox."""
    remote, _ = make_remote_actor("bob", domain="remote.example")
    rel = api.post(f"/api/v1/accounts/{remote.pk}/follow").json()
    assert rel["requested"] is True
    assert rel["following"] is False
    row = Follow.objects.get(follower=local_member, target=remote)
    assert row.state == FollowState.PENDING
    delivery = Delivery.objects.get()
    assert delivery.inbox_url == remote.inbox_url
    assert delivery.activity.type == "Follow"
    assert delivery.activity.body["object"] == remote.ap_id


def test_follow_self_or_blocker_is_403(api, local_member, make_local_member):
    """Following oneself or an account that blocks you is 403 and stores nothing."""
    bob = make_local_member("bob")
    ActorBlock.objects.create(owner=bob, target=local_member)
    assert api.post(f"/api/v1/accounts/{local_member.pk}/follow").status_code == 403
    assert api.post(f"/api/v1/accounts/{bob.pk}/follow").status_code == 403
    assert not Follow.objects.exists()


def test_relationships_in_asked_order(api, local_member, make_local_member):
    """relationships answers one entity per known id, in the order asked."""
    bob, carol = make_local_member("bob"), make_local_member("carol")
    Follow.objects.create(follower=carol, target=local_member, state=FollowState.ACCEPTED)
    response = api.get("/api/v1/accounts/relationships", {"id[]": [str(carol.pk), "99999", str(bob.pk)]})
    data = response.json()
    assert [r["id"] for r in data] == [str(carol.pk), str(bob.pk)]
    assert data[0]["followed_by"] is True
    assert data[1]["followed_by"] is False


def test_block_and_mute_lists(api, local_member, make_local_member):
    """Block and mute show up in relationships and in ``/blocks`` and ``/mutes``; undo clears them."""
    bob, carol = make_local_member("bob"), make_local_member("carol")
    assert api.post(f"/api/v1/accounts/{bob.pk}/block").json()["blocking"] is True
    rel = api.post(f"/api/v1/accounts/{carol.pk}/mute", {"notifications": False}).json()
    assert rel["muting"] is True
    assert rel["muting_notifications"] is False
    assert [a["username"] for a in api.get("/api/v1/blocks").json()] == ["bob"]
    assert [a["username"] for a in api.get("/api/v1/mutes").json()] == ["carol"]
    api.post(f"/api/v1/accounts/{bob.pk}/unblock")
    api.post(f"/api/v1/accounts/{carol.pk}/unmute")
    assert not ActorBlock.objects.exists()
    assert not Mute.objects.exists()


def test_account_search_finds_local_and_known_remote(api, local_member, make_local_member, make_remote_actor):
    """Account search finds local names and a known ``user@domain`` without the network."""
    make_local_member("bobby")
    remote, _ = make_remote_actor("bob", domain="remote.example")
    names = {a["acct"] for a in api.get("/api/v1/accounts/search", {"q": "bob"}).json()}
    assert "bobby" in names
    exact = api.get("/api/v1/accounts/search", {"q": "bob@remote.example"}).json()
    assert exact[0]["id"] == str(remote.pk)


def test_followers_pagination_link(api_for, make_local_member):
    """Account lists page with ``limit`` and a ``Link`` whose next page continues without overlap."""
    target = make_local_member("target")
    for name in ("f1", "f2", "f3"):
        Follow.objects.create(follower=make_local_member(name), target=target, state=FollowState.ACCEPTED)
    client = api_for(target)
    first = client.get(f"/api/v1/accounts/{target.pk}/followers", {"limit": 2})
    assert [a["username"] for a in first.json()] == ["f3", "f2"]
    next_url = first["Link"].split(";")[0].strip("<>")
    assert "max_id=" in next_url
    second = client.get(next_url.split("testserver")[-1])
    assert [a["username"] for a in second.json()] == ["f1"]

"""The inbox: authentication before storage, origin rules, replay and the 202 hand-off.

Every refusal test checks the status AND that nothing was stored, processed or sent.
Remote actors live on a loopback fake server so key fetches and replies are real HTTP.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from federation.keys import generate_key_pair, load_private_key
from federation.models import Actor, Delivery, Follow, FollowState, InboxItem, InboxItemState
from federation.policy import block_domain, forget_blocks
from federation.signing import sign_request

AS2 = "application/activity+json"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    forget_blocks()
    yield
    forget_blocks()


@pytest.fixture
def remote(fake_server, make_remote_actor):
    """bob on the fake server (cached here), with his inbox answering 202."""
    actor, pem = make_remote_actor("bob", domain=fake_server.netloc, scheme="http")
    fake_server.route("POST", "/users/bob/inbox", status=202)
    fake_server.route("POST", "/inbox", status=202)
    return actor, pem


def follow_activity(actor: Actor, target: Actor, n: int = 1) -> dict:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.ap_id}/follows/{n}",
        "type": "Follow",
        "actor": actor.ap_id,
        "object": target.ap_id,
    }


def signed_post(client, path, activity, *, key_id, pem, body=None, now=None, mutate=None, settings=None):
    """POST ``activity`` signed draft-cavage style, as a remote server would."""
    raw = body if body is not None else json.dumps(activity).encode()
    url = f"http://127.0.0.1:8000{path}"
    headers = sign_request(
        "POST", url, {"Content-Type": AS2}, raw, key_id=key_id, private_key=load_private_key(pem), now=now
    )
    if mutate:
        headers, raw = mutate(dict(headers), raw)
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return client.post(path, data=raw, content_type=AS2, headers=headers)


def nothing_stored():
    return InboxItem.objects.count() == 0 and Follow.objects.count() == 0 and Delivery.objects.count() == 0


def test_signed_follow_is_stored_processed_and_accepted(
    client, local_member, remote, fake_server, django_capture_on_commit_callbacks
):
    """A valid signed Follow gets 202, is processed once, and bob's inbox receives our Accept."""
    bob, pem = remote
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(
            client,
            local_member.inbox_url[len("http://127.0.0.1:8000") :],
            follow_activity(bob, local_member),
            key_id=bob.public_key_id,
            pem=pem,
        )
    assert response.status_code == 202
    item = InboxItem.objects.get()
    assert item.state == InboxItemState.PROCESSED, item.error
    assert Follow.objects.get().state == FollowState.ACCEPTED
    posts = fake_server.requests_to("/inbox", "POST") + fake_server.requests_to("/users/bob/inbox", "POST")
    assert len(posts) == 1
    accept = posts[0].json()
    assert accept["type"] == "Accept" and accept["object"]["id"] == f"{bob.ap_id}/follows/1"
    assert posts[0].header("signature")


def test_unsigned_post_is_refused_and_nothing_stored(client, local_member, remote, fake_server):
    """No signature: 401, nothing stored, nothing fetched."""
    bob, _ = remote
    response = client.post("/inbox", data=json.dumps(follow_activity(bob, local_member)), content_type=AS2)
    assert response.status_code == 401
    assert nothing_stored()
    assert fake_server.requests == []


def test_signature_with_wrong_key_is_refused(client, local_member, remote):
    """Signed with a key that is not bob's: 401, nothing stored."""
    bob, _ = remote
    other_pem, _ = generate_key_pair()
    response = signed_post(
        client, "/inbox", follow_activity(bob, local_member), key_id=bob.public_key_id, pem=other_pem
    )
    assert response.status_code == 401
    assert nothing_stored()


def test_body_changed_after_signing_is_refused(client, local_member, remote):
    """Digest mismatch (body altered in transit): 401, nothing stored."""
    bob, pem = remote

    def tamper(headers, raw):
        return headers, raw.replace(b"Follow", b"Block", 1)

    response = signed_post(
        client, "/inbox", follow_activity(bob, local_member), key_id=bob.public_key_id, pem=pem, mutate=tamper
    )
    assert response.status_code == 401
    assert "digest" in response.json()["error"].lower()
    assert nothing_stored()


def test_signature_without_digest_is_refused(client, local_member, remote):
    """A POST whose signature does not cover a digest: 401, nothing stored."""
    bob, pem = remote

    def drop_digest(headers, raw):
        headers.pop("Digest", None)
        headers["Signature"] = headers["Signature"].replace(" digest", "")
        return headers, raw

    response = signed_post(
        client, "/inbox", follow_activity(bob, local_member), key_id=bob.public_key_id, pem=pem, mutate=drop_digest
    )
    assert response.status_code == 401
    assert nothing_stored()


def test_stale_date_is_refused(client, local_member, remote):
    """A signature made two hours ago: 401, nothing stored."""
    bob, pem = remote
    old = datetime.now(UTC) - timedelta(hours=2)
    response = signed_post(
        client, "/inbox", follow_activity(bob, local_member), key_id=bob.public_key_id, pem=pem, now=old
    )
    assert response.status_code == 401
    assert nothing_stored()


def test_key_of_another_actor_is_refused(client, local_member, remote, make_remote_actor, fake_server):
    """carol's valid key signing an activity that claims bob as actor: 401, nothing stored."""
    bob, _ = remote
    carol, carol_pem = make_remote_actor("carol", domain=fake_server.netloc, scheme="http")
    response = signed_post(
        client, "/inbox", follow_activity(bob, local_member), key_id=carol.public_key_id, pem=carol_pem
    )
    assert response.status_code == 401
    assert "actor" in response.json()["error"]
    assert nothing_stored()


def test_activity_id_on_another_host_is_refused(client, local_member, remote):
    """An activity whose id is on another host than its actor: 403, nothing stored."""
    bob, pem = remote
    activity = follow_activity(bob, local_member) | {"id": "https://elsewhere.example/follows/1"}
    response = signed_post(client, "/inbox", activity, key_id=bob.public_key_id, pem=pem)
    assert response.status_code == 403
    assert nothing_stored()


def test_activity_claiming_our_domain_is_refused(client, local_member, make_local_member):
    """An outside POST claiming one of our own actors: 403 before any key lookup."""
    other = make_local_member("dora")
    activity = follow_activity(other, local_member)
    response = signed_post(client, "/inbox", activity, key_id=other.public_key_id, pem=other.private_key_pem)
    assert response.status_code == 403
    assert nothing_stored()


def test_oversize_body_is_refused_with_413(client, local_member, remote, settings):
    """Bodies over the limit: 413, nothing stored."""
    bob, pem = remote
    settings.FEDERATION_MAX_BODY_BYTES = 2048
    activity = follow_activity(bob, local_member) | {"padding": "x" * 4096}
    response = signed_post(client, "/inbox", activity, key_id=bob.public_key_id, pem=pem)
    assert response.status_code == 413
    assert nothing_stored()


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'{"id": "a", "id": "b"}', b"[" * 40 + b"]" * 40, ("{" + '"a":' * 0 + "}").encode()],
)
def test_malformed_json_is_refused_with_400(client, local_member, remote, raw):
    """Garbage, non-objects, duplicate keys, deep nesting, or missing fields: 400, nothing stored."""
    bob, pem = remote
    response = signed_post(client, "/inbox", {}, key_id=bob.public_key_id, pem=pem, body=raw)
    assert response.status_code == 400
    assert nothing_stored()


def test_wrong_content_type_is_refused_with_415(client, local_member, remote):
    """A form or text body: 415, nothing stored."""
    del remote
    response = client.post("/inbox", data="hello", content_type="text/plain")
    assert response.status_code == 415
    assert nothing_stored()


def test_replayed_activity_is_acknowledged_and_processed_once(
    client, local_member, remote, fake_server, django_capture_on_commit_callbacks
):
    """The same activity posted twice: both 202, one stored row, one Accept sent."""
    bob, pem = remote
    activity = follow_activity(bob, local_member)
    with django_capture_on_commit_callbacks(execute=True):
        first = signed_post(client, "/inbox", activity, key_id=bob.public_key_id, pem=pem)
        second = signed_post(client, "/inbox", activity, key_id=bob.public_key_id, pem=pem)
    assert first.status_code == second.status_code == 202
    assert InboxItem.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_blocked_domain_is_refused_before_any_fetch(client, local_member, fake_server):
    """A blocked domain gets 403; its key is never fetched and nothing is stored."""
    block_domain(fake_server.netloc.split(":")[0], reason="spam")
    pem, _ = generate_key_pair()
    actor_id = fake_server.url("/users/mallory")
    activity = {"id": f"{actor_id}/1", "type": "Follow", "actor": actor_id, "object": local_member.ap_id}
    response = signed_post(client, "/inbox", activity, key_id=f"{actor_id}#main-key", pem=pem)
    assert response.status_code == 403
    assert fake_server.requests == []
    assert nothing_stored()


def test_unknown_actor_key_is_fetched_signed_and_verified(
    client, local_member, fake_server, django_capture_on_commit_callbacks
):
    """An unknown sender's key is fetched from its origin (with a signed GET) and then verified."""
    pem, public_pem = generate_key_pair()
    actor_id = fake_server.url("/users/erin")
    fake_server.route(
        "GET",
        "/users/erin",
        json={
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor_id,
            "type": "Person",
            "preferredUsername": "erin",
            "inbox": f"{actor_id}/inbox",
            "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": public_pem},
        },
        headers={"Content-Type": AS2},
    )
    fake_server.route("POST", "/users/erin/inbox", status=202)
    activity = {"id": f"{actor_id}/follows/9", "type": "Follow", "actor": actor_id, "object": local_member.ap_id}
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(client, "/inbox", activity, key_id=f"{actor_id}#main-key", pem=pem)
    assert response.status_code == 202
    fetches = fake_server.requests_to("/users/erin", "GET")
    assert fetches and fetches[0].header("signature")
    assert Actor.objects.get(ap_id=actor_id).public_key_pem == public_pem
    assert Follow.objects.get().state == FollowState.ACCEPTED


def test_rotated_key_is_refetched_once(client, local_member, remote, fake_server):
    """bob's cached key is old; the request verifies after one refetch of his document."""
    bob, _old = remote
    new_pem, new_public = generate_key_pair()
    fake_server.route(
        "GET",
        "/users/bob",
        json={
            "id": bob.ap_id,
            "type": "Person",
            "preferredUsername": "bob",
            "inbox": bob.inbox_url,
            "publicKey": {"id": bob.public_key_id, "owner": bob.ap_id, "publicKeyPem": new_public},
        },
        headers={"Content-Type": AS2},
    )
    response = signed_post(client, "/inbox", follow_activity(bob, local_member), key_id=bob.public_key_id, pem=new_pem)
    assert response.status_code == 202
    assert len(fake_server.requests_to("/users/bob", "GET")) == 1


def test_unknown_activity_type_is_stored_and_acknowledged(
    client, local_member, remote, django_capture_on_commit_callbacks
):
    """A type no handler knows is kept and acknowledged, not an error."""
    bob, pem = remote
    activity = {"id": f"{bob.ap_id}/x/1", "type": "Wave", "actor": bob.ap_id, "object": local_member.ap_id}
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(client, "/inbox", activity, key_id=bob.public_key_id, pem=pem)
    assert response.status_code == 202
    item = InboxItem.objects.get()
    assert item.state == InboxItemState.PROCESSED and "no handler" in item.error


def test_undo_follow_by_someone_else_is_rejected(
    client, local_member, remote, make_remote_actor, fake_server, django_capture_on_commit_callbacks
):
    """carol cannot undo bob's follow: the item is rejected and the follow stays."""
    bob, _ = remote
    carol, carol_pem = make_remote_actor("carol", domain=fake_server.netloc, scheme="http")
    Follow.objects.create(follower=bob, target=local_member, ap_id=f"{bob.ap_id}/follows/1", state="accepted")
    undo = {"id": f"{carol.ap_id}/undo/1", "type": "Undo", "actor": carol.ap_id, "object": f"{bob.ap_id}/follows/1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(client, "/inbox", undo, key_id=carol.public_key_id, pem=carol_pem)
    assert response.status_code == 202
    assert InboxItem.objects.get().state == InboxItemState.REJECTED
    assert Follow.objects.filter(follower=bob).exists()


def test_rate_limited_domain_gets_429_and_nothing_stored(client, local_member, remote, settings):
    """Past FEDERATION_INBOX_RATE requests a minute from one domain: 429, nothing more stored."""
    bob, pem = remote
    settings.FEDERATION_INBOX_RATE = 2
    from federation import policy

    policy._counts.clear()
    statuses = [
        signed_post(
            client, "/inbox", follow_activity(bob, local_member, n), key_id=bob.public_key_id, pem=pem
        ).status_code
        for n in range(3)
    ]
    policy._counts.clear()
    assert statuses == [202, 202, 429]
    assert InboxItem.objects.count() == 2


def test_failed_origin_check_does_not_burn_the_activity_id(
    client, local_member, remote, make_remote_actor, fake_server
):
    """A forged copy refused at the origin check leaves the id free for the genuine activity."""
    bob, pem = remote
    carol, carol_pem = make_remote_actor("carol", domain=fake_server.netloc, scheme="http")
    genuine = follow_activity(bob, local_member)
    forged = genuine | {"actor": carol.ap_id}
    refused = signed_post(client, "/inbox", forged, key_id=bob.public_key_id, pem=pem)
    accepted = signed_post(client, "/inbox", genuine, key_id=bob.public_key_id, pem=pem)
    assert refused.status_code == 401
    assert accepted.status_code == 202
    assert InboxItem.objects.get().actor_id == bob.ap_id
    del carol_pem


def test_signature_for_another_host_is_refused(client, local_member, remote):
    """A signature made for another server (signed host differs from ours): 401, nothing stored."""
    bob, pem = remote
    raw = json.dumps(follow_activity(bob, local_member)).encode()
    headers = sign_request(
        "POST",
        "http://other.example/inbox",
        {"Content-Type": AS2},
        raw,
        key_id=bob.public_key_id,
        private_key=load_private_key(pem),
    )
    headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "host")}
    response = client.post("/inbox", data=raw, content_type=AS2, headers={**headers, "Host": "127.0.0.1:8000"})
    assert response.status_code == 401
    assert nothing_stored()


def test_inbox_of_unknown_actor_is_404(client, remote, local_member):
    """POSTing to the inbox of an actor that does not exist: 404 before anything else."""
    bob, pem = remote
    response = signed_post(
        client, "/actors/99999/inbox", follow_activity(bob, local_member), key_id=bob.public_key_id, pem=pem
    )
    assert response.status_code == 404
    assert nothing_stored()


def test_get_on_inbox_is_405(client):
    """Inboxes accept POST only."""
    response = client.get("/inbox")
    assert response.status_code == 405
    assert response["Allow"] == "POST"

"""WebFinger, host-meta, NodeInfo, actor documents and collections."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from federation.actors import get_instance_actor
from federation.models import Follow, FollowState

AS2 = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
pytestmark = pytest.mark.django_db


def test_webfinger_acct_returns_jrd_with_self_link_and_cors(client, local_member, settings):
    """acct:alice@<our domain> resolves to the actor URL, with CORS and the JRD media type."""
    response = client.get("/.well-known/webfinger", {"resource": f"acct:alice@{settings.NODE_DOMAIN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/jrd+json")
    assert response["Access-Control-Allow-Origin"] == "*"
    doc = response.json()
    assert doc["subject"] == f"acct:alice@{settings.NODE_DOMAIN}"
    self_links = [link for link in doc["links"] if link["rel"] == "self"]
    assert self_links == [{"rel": "self", "type": AS2, "href": local_member.ap_id}]
    assert any(link["rel"] == "http://webfinger.net/rel/profile-page" for link in doc["links"])


def test_webfinger_actor_url_resource_resolves(client, local_member):
    """The actor's own URL is accepted as a resource too."""
    response = client.get("/.well-known/webfinger", {"resource": local_member.ap_id})
    assert response.status_code == 200
    assert response.json()["links"][0]["href"] == local_member.ap_id


@pytest.mark.parametrize(
    ("params", "status"),
    [({}, 400), ({"resource": "acct:nobody@127.0.0.1:8000"}, 404), ({"resource": "acct:alice@other.example"}, 404)],
)
def test_webfinger_errors_missing_unknown_or_foreign(client, local_member, params, status):
    """No resource is 400; an unknown account or another domain's account is 404."""
    response = client.get("/.well-known/webfinger", params)
    assert response.status_code == status
    assert response["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("accept", [AS2, LD])
def test_actor_document_for_activitypub_clients(client, local_member, accept):
    """The actor URL gives AS2 JSON with keys, endpoints and collections."""
    response = client.get(f"/actors/{local_member.pk}", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(AS2)
    doc = response.json()
    assert "https://www.w3.org/ns/activitystreams" in doc["@context"]
    assert doc["id"] == local_member.ap_id and doc["type"] == "Person"
    assert doc["preferredUsername"] == "alice"
    assert doc["inbox"].endswith("/inbox") and doc["outbox"].endswith("/outbox")
    assert doc["endpoints"]["sharedInbox"].endswith("/inbox")
    assert doc["publicKey"]["owner"] == doc["id"]
    assert doc["publicKey"]["id"] == f"{doc['id']}#main-key"
    load_pem_public_key(doc["publicKey"]["publicKeyPem"].encode())
    assert "privateKey" not in response.content.decode()
    assert "PRIVATE KEY" not in response.content.decode()


def test_actor_url_redirects_browsers_to_profile(client, local_member):
    """A browser asking for HTML is sent to the profile page."""
    response = client.get(f"/actors/{local_member.pk}", HTTP_ACCEPT="text/html")
    assert response.status_code == 302
    assert response["Location"] == local_member.url


def test_actor_absent_and_suspended_look_the_same(client, local_member):
    """A suspended actor answers exactly like a missing one (404)."""
    local_member.suspended = True
    local_member.save()
    suspended = client.get(f"/actors/{local_member.pk}", HTTP_ACCEPT=AS2)
    missing = client.get("/actors/999999", HTTP_ACCEPT=AS2)
    assert suspended.status_code == missing.status_code == 404


def test_instance_actor_is_an_application(client):
    """The node's instance actor is an Application with a key, findable by WebFinger."""
    actor = get_instance_actor()
    doc = client.get(f"/actors/{actor.pk}", HTTP_ACCEPT=AS2).json()
    assert doc["type"] == "Application"
    assert doc["publicKey"]["owner"] == actor.ap_id


def test_nodeinfo_discovery_and_documents(client, local_member, settings):
    """/.well-known/nodeinfo links 2.0 and 2.1; each has exactly the schema's fields."""
    links = client.get("/.well-known/nodeinfo").json()["links"]
    rels = {link["rel"].rsplit("/", 1)[-1] for link in links}
    assert rels == {"2.0", "2.1"}
    for version in ("2.0", "2.1"):
        response = client.get(f"/nodeinfo/{version}")
        assert response.status_code == 200
        doc = response.json()
        assert set(doc) == {"version", "software", "protocols", "services", "openRegistrations", "usage", "metadata"}
        assert doc["version"] == version
        assert doc["software"]["name"] == "redcloud"
        assert doc["protocols"] == ["activitypub"]
        assert doc["usage"]["users"]["total"] == 1
        assert doc["openRegistrations"] is False
        assert doc["metadata"]["nodeRole"] == settings.NODE_ROLE
        assert doc["metadata"]["regionCode"] == settings.NODE_REGION_CODE
    assert client.get("/nodeinfo/3.0").status_code == 404


def test_host_meta_points_to_webfinger(client):
    """host-meta gives the lrdd template of our WebFinger endpoint."""
    response = client.get("/.well-known/host-meta")
    assert response.status_code == 200
    assert "/.well-known/webfinger?resource={uri}" in response.content.decode()


def test_followers_collection_counts_and_pages(client, local_member, make_remote_actor):
    """Accepted followers are counted and listed newest first; pending ones are not."""
    for i in range(3):
        remote, _ = make_remote_actor(f"f{i}")
        Follow.objects.create(
            follower=remote, target=local_member, state=FollowState.ACCEPTED, ap_id=f"{remote.ap_id}#f"
        )
    pending, _ = make_remote_actor("p")
    Follow.objects.create(follower=pending, target=local_member, state=FollowState.PENDING)
    head = client.get(f"/actors/{local_member.pk}/followers", HTTP_ACCEPT=AS2).json()
    assert head["type"] == "OrderedCollection" and head["totalItems"] == 3
    page = client.get(head["first"].replace("http://127.0.0.1:8000", ""), HTTP_ACCEPT=AS2).json()
    assert page["type"] == "OrderedCollectionPage"
    assert page["orderedItems"] == [f"https://remote.example/users/f{i}" for i in (2, 1, 0)]
    assert "next" not in page


def test_collection_bad_cursor_is_404(client, local_member):
    """A malformed page cursor is treated as a missing page."""
    response = client.get(f"/actors/{local_member.pk}/following?page=1&max_id=abc", HTTP_ACCEPT=AS2)
    assert response.status_code == 404

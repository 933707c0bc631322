"""The hub: joining a parent, accepting children, cycles, and Mastodon-style relay subscriptions."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from federation import registry
from federation.actors import get_instance_actor
from federation.models import ActorType, Delivery, Follow, FollowState, OutboxActivity
from node import hub
from node.models import NodeRelation, RelationDirection, RelationKind, RelationState

JRD = "application/jrd+json"


@pytest.fixture
def loopback(settings):
    """Federation may reach the loopback fake server."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    settings.NODE_DEVNET = False
    settings.NODE_HUB_ALLOW = ()


@pytest.fixture
def parent_node(loopback, fake_server, make_remote_actor, settings):
    """The fake server plays the parent hub: WebFinger of its instance actor and NodeInfo."""
    host = fake_server.netloc
    actor, _ = make_remote_actor("instance.actor", domain=host, scheme="http", type=ActorType.APPLICATION)
    fake_server.route(
        "GET",
        "/.well-known/webfinger",
        json={
            "subject": f"acct:instance.actor@{host}",
            "links": [{"rel": "self", "type": "application/activity+json", "href": actor.ap_id}],
        },
        headers={"Content-Type": JRD},
    )
    fake_server.route(
        "GET", "/.well-known/nodeinfo", json={"links": [{"rel": "x", "href": fake_server.url("/nodeinfo/2.1")}]}
    )
    fake_server.route(
        "GET",
        "/nodeinfo/2.1",
        json={
            "software": {"name": "redcloud", "version": "0.1.0"},
            "metadata": {"nodeName": "省", "nodeRole": "province", "regionCode": "530000"},
        },
    )
    settings.NODE_PARENT = fake_server.url("").rstrip("/")
    return actor


def _follow_of_us(actor, ident: str = "1") -> dict:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.ap_id}/follows/{ident}",
        "type": "Follow",
        "actor": actor.ap_id,
        "object": get_instance_actor().ap_id,
    }


def _dispatch(activity: dict, actor) -> None:
    kind = activity["type"]
    obj = activity.get("object")
    obj_type = obj.get("type") if isinstance(obj, dict) else None
    handler = registry.handler_for(kind, obj_type)
    assert handler is not None
    handler(activity, actor)


def test_join_hub_sends_one_follow_when_run_twice(parent_node, hold_deliveries):
    """join-hub follows the parent's instance actor once and records one pending relation, however often it runs."""
    call_command("node", "join-hub")
    call_command("node", "join-hub")
    rel = NodeRelation.objects.get()
    assert (rel.direction, rel.state, rel.actor_id) == (RelationDirection.PARENT, RelationState.PENDING, parent_node.pk)
    assert rel.node_role == "province"
    assert Follow.objects.filter(follower=get_instance_actor(), target=parent_node).count() == 1
    follows = OutboxActivity.objects.filter(type="Follow")
    assert follows.count() == 1
    assert list(Delivery.objects.filter(activity__type="Follow").values_list("inbox_url", flat=True)) == [
        parent_node.inbox_url
    ]
    assert hub.parent_relation() == rel


def test_join_hub_relation_accepted_when_parent_accepts(parent_node, hold_deliveries):
    """The parent's Accept{Follow} turns our parent relation to accepted with a since date."""
    rel = hub.join_hub()
    accept = {
        "id": f"{parent_node.ap_id}/accepts/1",
        "type": "Accept",
        "actor": parent_node.ap_id,
        "object": {"id": rel.follow_ap_id, "type": "Follow"},
    }
    _dispatch(accept, parent_node)
    rel.refresh_from_db()
    assert rel.state == RelationState.ACCEPTED
    assert rel.since is not None


def test_join_hub_refused_when_another_parent_is_joined(parent_node, make_remote_actor, hold_deliveries):
    """A node has one parent: joining while another parent relation is live fails and sends nothing."""
    other, _ = make_remote_actor("instance.actor", domain="other-hub.example", type=ActorType.APPLICATION)
    NodeRelation.objects.create(
        actor=other, direction=RelationDirection.PARENT, state=RelationState.ACCEPTED, domain=other.domain
    )
    with pytest.raises(CommandError, match="already has a parent"):
        call_command("node", "join-hub")
    assert not OutboxActivity.objects.exists()


def test_join_hub_refused_without_parent_setting(loopback, settings, db):
    """Without NODE_PARENT join-hub explains and records nothing."""
    settings.NODE_PARENT = ""
    with pytest.raises(CommandError, match="NODE_PARENT"):
        call_command("node", "join-hub")
    assert not NodeRelation.objects.exists()


def test_leave_hub_sends_undo_and_marks_left(parent_node, hold_deliveries):
    """leave-hub sends Undo{Follow} to the parent and the relation becomes left; leaving again is harmless."""
    hub.join_hub()
    call_command("node", "leave-hub")
    call_command("node", "leave-hub")
    assert NodeRelation.objects.get().state == RelationState.LEFT
    assert OutboxActivity.objects.filter(type="Undo").count() == 1
    assert not Follow.objects.exists()
    assert hub.parent_relation() is None


@pytest.fixture
def child_node(loopback, fake_server, make_remote_actor):
    """A child node's instance actor on the loopback fake server (its NodeInfo answers 404)."""
    actor, _ = make_remote_actor("instance.actor", domain=fake_server.netloc, scheme="http", type=ActorType.APPLICATION)
    return actor


def test_child_accepted_at_once_on_devnet(child_node, settings, hold_deliveries, django_capture_on_commit_callbacks):
    """On a devnet a child's follow of our instance actor is accepted and answered with Accept."""
    settings.NODE_DEVNET = True
    with django_capture_on_commit_callbacks(execute=True):
        _dispatch(_follow_of_us(child_node), child_node)
    rel = NodeRelation.objects.get(direction=RelationDirection.CHILD)
    assert rel.state == RelationState.ACCEPTED and rel.since is not None
    assert Follow.objects.get(follower=child_node).state == FollowState.ACCEPTED
    accept = OutboxActivity.objects.get(type="Accept")
    assert list(accept.deliveries.values_list("inbox_url", flat=True)) == [child_node.inbox_url]
    assert list(hub.children()) == [rel]


def test_child_accepted_when_domain_in_allow_list(
    child_node, settings, hold_deliveries, django_capture_on_commit_callbacks
):
    """A child whose domain is in NODE_HUB_ALLOW is accepted without the operator."""
    settings.NODE_HUB_ALLOW = (child_node.domain,)
    with django_capture_on_commit_callbacks(execute=True):
        _dispatch(_follow_of_us(child_node), child_node)
    assert NodeRelation.objects.get().state == RelationState.ACCEPTED


def test_child_waits_for_operator_then_hub_approve(child_node, hold_deliveries, django_capture_on_commit_callbacks):
    """Without devnet or allow-list a child stays pending (no Accept) until `node hub-approve DOMAIN`."""
    with django_capture_on_commit_callbacks(execute=True):
        _dispatch(_follow_of_us(child_node), child_node)
    assert NodeRelation.objects.get().state == RelationState.PENDING
    assert not OutboxActivity.objects.filter(type="Accept").exists()
    assert list(hub.children()) == []
    call_command("node", "hub-approve", child_node.domain)
    assert NodeRelation.objects.get().state == RelationState.ACCEPTED
    assert OutboxActivity.objects.filter(type="Accept").count() == 1
    call_command("node", "hub-approve", child_node.domain)  # harmless again
    assert OutboxActivity.objects.filter(type="Accept").count() == 1


def test_child_refused_when_it_is_our_parent(child_node, settings, hold_deliveries, django_capture_on_commit_callbacks):
    """Our own parent cannot become our child: its follow is rejected, even on a devnet."""
    settings.NODE_DEVNET = True
    NodeRelation.objects.create(
        actor=child_node, direction=RelationDirection.PARENT, state=RelationState.ACCEPTED, domain=child_node.domain
    )
    with django_capture_on_commit_callbacks(execute=True):
        _dispatch(_follow_of_us(child_node), child_node)
    assert NodeRelation.objects.get(direction=RelationDirection.CHILD).state == RelationState.REJECTED
    assert not Follow.objects.filter(follower=child_node).exists()
    assert OutboxActivity.objects.filter(type="Reject").count() == 1
    assert not OutboxActivity.objects.filter(type="Accept").exists()


def test_child_refused_when_it_is_an_ancestor(
    loopback, make_remote_actor, settings, hold_deliveries, django_capture_on_commit_callbacks
):
    """A node above our parent (from the chain our parent reported) cannot become our child."""
    settings.NODE_DEVNET = True
    parent, _ = make_remote_actor("instance.actor", domain="prefecture.example", type=ActorType.APPLICATION)
    top, _ = make_remote_actor("instance.actor", domain="province.example", type=ActorType.APPLICATION)
    NodeRelation.objects.create(
        actor=parent,
        direction=RelationDirection.PARENT,
        state=RelationState.ACCEPTED,
        domain=parent.domain,
        ancestors=["province.example"],
    )
    assert hub.ancestors() == ["prefecture.example", "province.example"]
    with django_capture_on_commit_callbacks(execute=True):
        _dispatch(_follow_of_us(top), top)
    assert NodeRelation.objects.get(actor=top).state == RelationState.REJECTED
    assert not OutboxActivity.objects.filter(type="Accept").exists()


def test_join_hub_refused_when_parent_is_our_child(parent_node, hold_deliveries):
    """Joining one of our own children as parent would make a cycle: refused, nothing sent."""
    NodeRelation.objects.create(
        actor=parent_node, direction=RelationDirection.CHILD, state=RelationState.ACCEPTED, domain=parent_node.domain
    )
    with pytest.raises(hub.HubError, match="cycle"):
        hub.join_hub()
    assert not OutboxActivity.objects.exists()


# ---------------------------------------------------------------- Mastodon relay convention


@pytest.fixture
def relay_follower(db, fixture_path):
    """The instance actor of a Mastodon-relay-style peer (Activity-Relay's test actor)."""
    from federation.models import Actor

    follow = json.loads(fixture_path("mastodon/relay_follow.json").read_text())
    actor = Actor.objects.create(
        ap_id=follow["actor"],
        type=ActorType.APPLICATION,
        username="relay",
        domain="innocent.yukimochi.io",
        inbox_url="https://innocent.yukimochi.io/inbox",
        public_key_id=follow["actor"] + "#main-key",
        public_key_pem="x",
    )
    return actor, follow


def test_relay_follow_of_public_accepted_on_devnet(relay_follower, settings, hold_deliveries):
    """Mastodon's relay Follow{as:Public} subscribes the peer and is answered with Accept{Follow}."""
    settings.NODE_DEVNET = True
    actor, follow = relay_follower
    _dispatch(follow, actor)
    rel = NodeRelation.objects.get()
    assert (rel.kind, rel.state) == (RelationKind.RELAY, RelationState.ACCEPTED)
    accept = OutboxActivity.objects.get(type="Accept")
    assert accept.body["object"]["id"] == follow["id"]
    assert list(accept.deliveries.values_list("inbox_url", flat=True)) == ["https://innocent.yukimochi.io/inbox"]
    assert list(hub.relay_subscribers()) == [rel]


def test_relay_follow_pending_without_devnet(relay_follower, settings, hold_deliveries):
    """Outside devnet and the allow-list, a relay subscription waits for the operator (no Accept)."""
    settings.NODE_DEVNET = False
    settings.NODE_HUB_ALLOW = ()
    actor, follow = relay_follower
    _dispatch(follow, actor)
    assert NodeRelation.objects.get().state == RelationState.PENDING
    assert not OutboxActivity.objects.filter(type="Accept").exists()
    call_command("node", "hub-approve", "innocent.yukimochi.io")
    assert NodeRelation.objects.get().state == RelationState.ACCEPTED
    assert OutboxActivity.objects.filter(type="Accept").count() == 1


def test_relay_undo_follow_ends_subscription(relay_follower, settings, hold_deliveries, fixture_path):
    """Activity-Relay's Undo{Follow as:Public} ends the subscription."""
    settings.NODE_DEVNET = True
    actor, follow = relay_follower
    _dispatch(follow, actor)
    undo = json.loads(fixture_path("mastodon/relay_undo_follow.json").read_text())
    _dispatch(undo, actor)
    assert NodeRelation.objects.get().state == RelationState.LEFT
    assert list(hub.relay_subscribers()) == []


def test_plain_relay_peer_subscribes_by_signed_follow_and_receives_public_posts(
    client, settings, fake_server, make_remote_actor, local_member, django_capture_on_commit_callbacks
):
    """A non-Redcloud relay peer (a fake server on loopback) POSTs a signed standard relay
    ``Follow{as:Public}`` to our shared inbox, gets ``Accept``, and then receives an ``Announce`` of
    each public post over HTTP (never of a followers-only one)."""
    from federation.keys import load_private_key
    from federation.signing import sign_request
    from microblog.services import create_post

    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    settings.NODE_HUB_ALLOW = (fake_server.netloc,)
    peer, pem = make_remote_actor("actor", domain=fake_server.netloc, scheme="http", type=ActorType.APPLICATION)
    fake_server.route("POST", "/users/actor/inbox", status=202)
    fake_server.route("POST", "/inbox", status=202)
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{peer.ap_id}/follows/relay-1",
        "type": "Follow",
        "actor": peer.ap_id,
        "object": "https://www.w3.org/ns/activitystreams#Public",
    }
    raw = json.dumps(follow).encode()
    headers = sign_request(
        "POST",
        "http://127.0.0.1:8000/inbox",
        {"Content-Type": "application/activity+json"},
        raw,
        key_id=peer.public_key_id,
        private_key=load_private_key(pem),
    )
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/inbox", data=raw, content_type="application/activity+json", headers=headers)
    assert response.status_code == 202
    rel = NodeRelation.objects.get(actor=peer)
    assert (rel.kind, rel.state) == (RelationKind.RELAY, RelationState.ACCEPTED)
    sent = [json.loads(r.body) for r in fake_server.requests if r.method == "POST"]
    assert [a["type"] for a in sent] == ["Accept"] and sent[0]["object"]["id"] == follow["id"]

    fake_server.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        public = create_post(local_member, text="全省公开的消息", visibility="public")
        create_post(local_member, text="只给关注者", visibility="private")
    announces = [json.loads(r.body) for r in fake_server.requests if r.method == "POST"]
    assert [a["type"] for a in announces] == ["Announce"]
    assert announces[0]["object"] == public.ap_id or announces[0]["object"].get("id") == public.ap_id

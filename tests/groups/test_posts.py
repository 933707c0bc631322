"""Group posts (FEP-1b12): our group announces its members' posts (both announce forms), never a
non-member's; a remote group's announces are stored verified with ``audience``; officers'
removals are announced; members-only posts stay hidden from non-members."""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from federation.inbound import process_item
from federation.models import Actor, ActorType, Delivery, Follow, FollowState, InboxItem, InboxItemState, OutboxActivity
from federation.vocab import PUBLIC
from groups.models import GroupPost
from groups.posts import create_group_post, group_timeline, moderate_delete, pin_post
from microblog import services
from microblog.models import Pin, Post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
AS2 = "application/activity+json"
_ids = itertools.count(1)


@pytest.fixture
def bob(make_remote_actor):
    """bob@remote.example, a remote member."""
    return make_remote_actor("bob", domain="remote.example")[0]


@pytest.fixture
def mallory(make_remote_actor):
    """mallory@remote.example, not a member."""
    return make_remote_actor("mallory", domain="remote.example")[0]


@pytest.fixture
def open_group(make_group, secretary, make_member, bob, local_member):
    """An open (not members-only) branch with alice (local) and bob (remote) as members."""
    group = make_group("open1", secretary=secretary, members_only=False)
    make_member(group, local_member)
    make_member(group, bob)
    return group


def deliver(activity: dict, actor: Actor) -> InboxItem:
    """Process ``activity`` from ``actor`` as the inbox worker does."""
    activity.setdefault("id", f"{actor.ap_id}/activities/{next(_ids)}")
    activity.setdefault("actor", actor.ap_id)
    item = InboxItem.objects.create(
        activity_id=activity["id"],
        activity_type=activity["type"],
        actor_id=actor.ap_id,
        domain=actor.domain,
        body=json.dumps(activity),
    )
    process_item(item)
    item.refresh_from_db()
    return item


def note(actor: Actor, n: int = 1, **fields) -> dict:
    doc = {
        "id": f"{actor.ap_id}/statuses/{n}",
        "type": "Note",
        "attributedTo": actor.ap_id,
        "to": [PUBLIC],
        "cc": [],
        "content": "<p>hello group</p>",
        "published": "2025-01-01T00:00:00Z",
    }
    doc.update(fields)
    return doc


def announces(group_actor: Actor) -> list[OutboxActivity]:
    return list(OutboxActivity.objects.filter(actor=group_actor, type="Announce").order_by("pk"))


def test_member_post_announced_as_create_and_plain(open_group, local_member, bob, django_capture_on_commit_callbacks):
    """A local member's group post is announced twice (Announce{Create} and plain) to remote members."""
    with django_capture_on_commit_callbacks(execute=True):
        post = create_group_post(local_member, open_group.actor, text="hello branch")
    assert post.audience_id == open_group.actor_id and open_group.actor.ap_id in post.to
    rows = announces(open_group.actor)
    assert [r.body["object"]["type"] for r in rows] == ["Create", "Note"]
    assert rows[0].body["object"]["object"]["id"] == post.ap_id
    assert rows[0].body["object"]["actor"] == local_member.ap_id
    assert rows[1].body["object"]["id"] == post.ap_id
    for row in rows:
        assert list(Delivery.objects.filter(activity=row).values_list("inbox_url", flat=True)) == [bob.delivery_inbox]
    assert GroupPost.objects.filter(group_actor=open_group.actor, post=post).exists()
    assert group_timeline(None, open_group.actor) == [post]


def test_non_member_post_not_announced(open_group, make_local_member, django_capture_on_commit_callbacks):
    """A non-member cannot post to the group, and a post merely addressed to it is not carried."""
    carol = make_local_member("carol")
    with pytest.raises(PermissionDenied):
        create_group_post(carol, open_group.actor, text="let me in")
    with django_capture_on_commit_callbacks(execute=True):
        post = services.create_post(carol, text="hi", audience=open_group.actor)
    assert announces(open_group.actor) == []
    assert not GroupPost.objects.filter(post=post).exists()
    assert group_timeline(None, open_group.actor) == []


def test_remote_member_create_stored_and_announced_unchanged(open_group, bob):
    """A remote member's Create to our group is stored and announced with the Create unchanged."""
    activity = {
        "type": "Create",
        "object": note(bob, to=[PUBLIC, open_group.actor.ap_id], audience=open_group.actor.ap_id),
    }
    item = deliver(activity, bob)
    assert item.state == InboxItemState.PROCESSED
    post = Post.objects.get(ap_id=activity["object"]["id"])
    assert post.audience_id == open_group.actor_id
    rows = announces(open_group.actor)
    assert rows[0].body["object"]["id"] == activity["id"]
    assert rows[0].body["object"]["object"] == activity["object"]
    assert rows[1].body["object"]["id"] == post.ap_id
    assert GroupPost.objects.get(post=post).announce_ap_id == rows[0].ap_id


def test_remote_non_member_create_not_announced(open_group, mallory):
    """A non-member's post to the group is neither announced nor in the group timeline."""
    deliver({"type": "Create", "object": note(mallory, to=[PUBLIC, open_group.actor.ap_id])}, mallory)
    assert announces(open_group.actor) == []
    assert not GroupPost.objects.exists()
    assert group_timeline(None, open_group.actor) == []


def test_group_mention_counts_as_group_post(open_group, bob):
    """A member's post mentioning @group@domain (Guppe, Friendica forums) is a group post."""
    mention = {"type": "Mention", "href": open_group.actor.ap_id, "name": f"@{open_group.actor.handle}"}
    deliver({"type": "Create", "object": note(bob, 2, tag=[mention], cc=[open_group.actor.ap_id])}, bob)
    post = Post.objects.get(ap_id=f"{bob.ap_id}/statuses/2")
    assert GroupPost.objects.filter(group_actor=open_group.actor, post=post).exists()
    assert len(announces(open_group.actor)) == 2


def test_smithereen_target_names_the_group(open_group, bob):
    """Group ownership stated only as a Smithereen ``target`` collection is recognised."""
    target = {"type": "Collection", "id": f"{open_group.actor.ap_id}/wall", "attributedTo": open_group.actor.ap_id}
    deliver({"type": "Create", "object": note(bob, 3, cc=[open_group.actor.ap_id], target=target)}, bob)
    assert GroupPost.objects.filter(group_actor=open_group.actor).count() == 1


def test_officer_delete_announced(open_group, secretary, local_member, bob, django_capture_on_commit_callbacks):
    """An officer removes a member's post: tombstoned and announced as Delete; a plain member cannot."""
    with django_capture_on_commit_callbacks(execute=True):
        post = create_group_post(local_member, open_group.actor, text="off topic")
    with pytest.raises(PermissionDenied):
        moderate_delete(bob, open_group.actor, post)
    before = OutboxActivity.objects.count()
    moderate_delete(secretary, open_group.actor, post)
    post.refresh_from_db()
    assert post.deleted_at is not None
    row = announces(open_group.actor)[-1]
    assert OutboxActivity.objects.count() == before + 1
    assert row.body["object"]["type"] == "Delete" and row.body["object"]["actor"] == secretary.ap_id
    assert row.body["object"]["object"] == post.ap_id
    assert Delivery.objects.filter(activity=row, inbox_url=bob.delivery_inbox).exists()


def test_author_edit_and_delete_announced(open_group, local_member, django_capture_on_commit_callbacks):
    """A member's edit and delete of a group post are announced by the group."""
    with django_capture_on_commit_callbacks(execute=True):
        post = create_group_post(local_member, open_group.actor, text="v1")
    with django_capture_on_commit_callbacks(execute=True):
        services.edit_post(local_member, post, text="v2")
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_post(local_member, post)
    kinds = [r.body["object"]["type"] for r in announces(open_group.actor)]
    assert kinds == ["Create", "Note", "Update", "Delete"]


def test_officer_pins_group_post(open_group, secretary, local_member, django_capture_on_commit_callbacks):
    """An officer pins a group post to the group's featured collection (Add federated)."""
    with django_capture_on_commit_callbacks(execute=True):
        post = create_group_post(local_member, open_group.actor, text="announcement")
    with pytest.raises(PermissionDenied):
        pin_post(local_member, open_group.actor, post)
    pin_post(secretary, open_group.actor, post)
    assert Pin.objects.filter(actor=open_group.actor, post=post).exists()
    add = OutboxActivity.objects.get(actor=open_group.actor, type="Add")
    assert add.body["target"] == open_group.actor.featured_url


def test_members_only_post_hidden_from_non_members(
    group, make_member, local_member, make_local_member, api_for, django_capture_on_commit_callbacks
):
    """A members-only group post is not served by /objects/, nor by the API to non-members."""
    make_member(group, local_member)
    carol = make_local_member("carol")
    with django_capture_on_commit_callbacks(execute=True):
        post = create_group_post(local_member, group.actor, text="members only")
    assert post.to == [group.actor.ap_id] and PUBLIC not in post.cc
    assert all(r.body["to"] == [group.actor.followers_url] for r in announces(group.actor))
    path = "/objects/" + post.ap_id.rsplit("/", 1)[1]
    assert Client().get(path, HTTP_ACCEPT=AS2).status_code == 404
    url = f"/api/v1/groups/{group.pk}/statuses"
    assert Client().get(url).json() == []
    assert api_for(carol).get(url).json() == []
    assert api_for(carol).get(f"/api/v1/statuses/{post.pk}").status_code == 404
    member_view = api_for(local_member).get(url).json()
    assert [s["id"] for s in member_view] == [str(post.pk)]


def test_api_post_to_group_refused_for_non_member(group, make_local_member, api_for):
    """POST /api/v1/groups/:id/statuses by a non-member is 403 and stores nothing."""
    carol = make_local_member("carol")
    response = api_for(carol).post(f"/api/v1/groups/{group.pk}/statuses", {"status": "hi"})
    assert response.status_code == 403
    assert not Post.objects.exists()


# ---------------------------------------------------------------- at a member's node


@pytest.fixture
def lemmy(make_remote_actor, local_member):
    """Lemmy's community ``main`` on enterprise.lemmy.ml (followed by alice) and its author."""
    community = Actor.objects.create(
        ap_id="http://enterprise.lemmy.ml/c/main",
        type=ActorType.GROUP,
        username="main",
        domain="enterprise.lemmy.ml",
        inbox_url="http://enterprise.lemmy.ml/c/main/inbox",
        followers_url="http://enterprise.lemmy.ml/c/main/followers",
    )
    author = make_remote_actor("lemmy_beta", domain="enterprise.lemmy.ml", scheme="http")[0]
    author.ap_id = "http://enterprise.lemmy.ml/u/lemmy_beta"
    author.save(update_fields=["ap_id"])
    Follow.objects.create(follower=local_member, target=community, state=FollowState.ACCEPTED, ap_id="https://x/f/1")
    return community


def test_lemmy_announce_create_page_stored_with_audience(lemmy, local_member, load_json):
    """Lemmy's Announce{Create{Page}} is stored with audience = the group and shows in its timeline."""
    item = deliver(load_json("lemmy/announce_create_page.json"), lemmy)
    assert item.state == InboxItemState.PROCESSED, item.error
    post = Post.objects.get(ap_id="http://enterprise.lemmy.ml/post/7")
    assert post.audience_id == lemmy.pk and post.name == "post 4"
    assert post.author.ap_id == "http://enterprise.lemmy.ml/u/lemmy_beta"
    assert group_timeline(local_member, lemmy) == [post]
    boosts = Post.objects.filter(reblog_of=post)  # the group's boost: the post in members' home timelines
    assert [(b.author_id, b.deleted_at) for b in boosts] == [(lemmy.pk, None)]


def test_announce_from_unfollowed_group_ignored(lemmy, load_json):
    """Nobody here belongs to the group: its announces are acknowledged and dropped."""
    Follow.objects.all().delete()
    deliver(load_json("lemmy/announce_create_page.json"), lemmy)
    assert not Post.objects.exists()


def test_cross_origin_embedded_object_refetched(make_remote_actor, local_member, fake_server, settings):
    """An announced object from another host than the group is fetched from its origin."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    group = make_remote_actor("club", domain="groups.example", type=ActorType.GROUP)[0]
    Follow.objects.create(follower=local_member, target=group, state=FollowState.ACCEPTED, ap_id="https://x/f/2")
    zed = make_remote_actor("zed", domain=fake_server.netloc, scheme="http")[0]
    real = note(zed, 1, id=fake_server.url("/notes/1"), content="<p>real</p>", to=[PUBLIC, group.ap_id])
    fake_server.route("GET", "/notes/1", json=real, headers={"Content-Type": AS2})
    forged = dict(real, content="<p>forged</p>")
    inner = {"id": fake_server.url("/activities/1"), "type": "Create", "actor": zed.ap_id, "object": forged}
    item = deliver({"type": "Announce", "object": inner, "id": "https://groups.example/a/1"}, group)
    assert item.state == InboxItemState.PROCESSED, item.error
    post = Post.objects.get(ap_id=real["id"])
    assert "real" in post.content and post.audience_id == group.pk
    assert fake_server.requests_to("/notes/1", "GET")[0].header("signature")
    # the plain announce of the same post adds nothing (one group boost row, one GroupPost)
    deliver({"type": "Announce", "object": forged, "id": "https://groups.example/a/2"}, group)
    assert Post.objects.filter(reblog_of__isnull=True).count() == 1 and GroupPost.objects.count() == 1
    assert list(Post.objects.filter(reblog_of=post).values_list("author_id", flat=True)) == [group.pk]


def test_announced_delete_removes_group_post(lemmy, local_member, load_json):
    """Announce{Delete} from the hosting group removes the carried post."""
    deliver(load_json("lemmy/announce_create_page.json"), lemmy)
    delete = {
        "type": "Delete",
        "actor": "http://enterprise.lemmy.ml/u/lemmy_beta",
        "object": "http://enterprise.lemmy.ml/post/7",
    }
    deliver({"type": "Announce", "object": delete, "id": "http://enterprise.lemmy.ml/activities/announce/d1"}, lemmy)
    assert Post.objects.get(ap_id="http://enterprise.lemmy.ml/post/7").deleted_at is not None
    assert group_timeline(local_member, lemmy) == []


@pytest.fixture
def load_json(fixture_path):
    """Factory: parsed JSON of a document under ../shared/fixtures."""

    def load(name: str) -> dict:
        return json.loads(fixture_path(name).read_text(encoding="utf-8"))

    return load

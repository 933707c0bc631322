"""Federating posts: who gets the Create/Update/Delete (real ``publish``, inspected through
``Delivery`` rows), and notifications on this node."""

from __future__ import annotations

import pytest

from federation.models import Delivery, FollowState, OutboxActivity
from microblog import effects, services
from microblog.models import Notification

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]


@pytest.fixture
def world(local_member, make_local_member, make_remote_actor, make_follow):
    """alice (author) with a remote follower on f.example, a pending remote follower, a remote
    stranger, a remote mentioned actor, and a local follower."""
    follower = make_remote_actor("fol", domain="f.example")[0]
    pending = make_remote_actor("pen", domain="p.example")[0]
    stranger = make_remote_actor("str", domain="s.example")[0]
    mentioned = make_remote_actor("men", domain="m.example")[0]
    local_fan = make_local_member("fan")
    make_follow(follower, local_member)
    make_follow(pending, local_member, state=FollowState.PENDING)
    make_follow(local_fan, local_member)
    return {
        "alice": local_member,
        "follower": follower,
        "pending": pending,
        "stranger": stranger,
        "mentioned": mentioned,
    }


def _inboxes(post) -> set[str]:
    activity = OutboxActivity.objects.get(object_ap_id=post.ap_id, type="Create")
    return set(Delivery.objects.filter(activity=activity).values_list("inbox_url", flat=True))


def _post(capture, author, text, **kwargs):
    with capture(execute=True):
        return services.create_post(author, text=text, **kwargs)


@pytest.mark.parametrize("visibility", ["public", "unlisted", "private"])
def test_followers_and_mentioned_receive(world, django_capture_on_commit_callbacks, visibility):
    """Public, unlisted and followers-only posts reach accepted followers and mentioned actors only."""
    post = _post(django_capture_on_commit_callbacks, world["alice"], "hi @men@m.example", visibility=visibility)
    assert _inboxes(post) == {world["follower"].delivery_inbox, world["mentioned"].delivery_inbox}
    outbox = OutboxActivity.objects.get(object_ap_id=post.ap_id)
    assert outbox.public is (visibility != "private")


def test_direct_reaches_only_mentioned(world, django_capture_on_commit_callbacks):
    """A direct post is delivered to the mentioned actor and nobody else, not even followers."""
    post = _post(django_capture_on_commit_callbacks, world["alice"], "psst @men@m.example", visibility="direct")
    assert _inboxes(post) == {world["mentioned"].delivery_inbox}
    body = OutboxActivity.objects.get(object_ap_id=post.ap_id).body
    assert body["to"] == [world["mentioned"].ap_id] and body["cc"] == []


def test_followers_only_never_reaches_non_followers(world, django_capture_on_commit_callbacks):
    """Pending followers and strangers never get a followers-only post."""
    post = _post(django_capture_on_commit_callbacks, world["alice"], "fans only", visibility="private")
    inboxes = _inboxes(post)
    assert world["pending"].delivery_inbox not in inboxes and world["stranger"].delivery_inbox not in inboxes
    assert inboxes == {world["follower"].delivery_inbox}


def test_public_reply_reaches_parent_author_private_does_not(world, make_follow, django_capture_on_commit_callbacks):
    """A public reply goes to the remote parent's author; a followers-only reply does not."""
    from microblog.activitypub import ap_to_post

    stranger = world["stranger"]
    make_follow(world["alice"], stranger)
    parent = ap_to_post(
        {
            "id": f"{stranger.ap_id}/n/1",
            "type": "Note",
            "attributedTo": stranger.ap_id,
            "to": ["as:Public"],
            "content": "q",
        },
        actor=stranger,
    )
    public = _post(django_capture_on_commit_callbacks, world["alice"], "answer", in_reply_to=parent)
    private = _post(
        django_capture_on_commit_callbacks, world["alice"], "answer", in_reply_to=parent, visibility="private"
    )
    assert stranger.delivery_inbox in _inboxes(public)
    assert stranger.delivery_inbox not in _inboxes(private)


def test_federate_twice_publishes_once(world, django_capture_on_commit_callbacks):
    """Running the federate task again adds no activity and no delivery."""
    post = _post(django_capture_on_commit_callbacks, world["alice"], "hi")
    before = Delivery.objects.count()
    again = effects.federate_post(post.pk)
    assert again is not None and OutboxActivity.objects.filter(object_ap_id=post.ap_id).count() == 1
    assert Delivery.objects.count() == before


def test_edit_federates_update_to_same_audience(world, django_capture_on_commit_callbacks):
    """An edit sends one Update with the new content to the same inboxes."""
    post = _post(django_capture_on_commit_callbacks, world["alice"], "v1 @men@m.example", visibility="private")
    with django_capture_on_commit_callbacks(execute=True):
        services.edit_post(world["alice"], post, text="v2 @men@m.example")
    update = OutboxActivity.objects.get(object_ap_id=post.ap_id, type="Update")
    assert "v2" in update.body["object"]["content"]
    assert set(update.deliveries.values_list("inbox_url", flat=True)) == _inboxes(post)


def test_no_federation_without_remote_audience(local_member, make_local_member, django_capture_on_commit_callbacks):
    """A post with only local readers stores its activity (for the outbox) but no delivery."""
    make_local_member("bob")
    post = _post(django_capture_on_commit_callbacks, local_member, "@bob hi")
    assert _inboxes(post) == set()


def test_surface_notifies_local_mentions_once(local_member, make_local_member, django_capture_on_commit_callbacks):
    """Mentioned members are notified once, even when surfacing runs again; the author never."""
    bob = make_local_member("bob")
    post = _post(django_capture_on_commit_callbacks, local_member, "@bob @alice hi")
    effects.surface_post(post.pk)
    assert list(Notification.objects.values_list("recipient", "type", "from_actor")) == [
        (bob.pk, "mention", local_member.pk)
    ]


def test_private_reply_does_not_notify_author_who_cannot_see_it(
    local_member, make_local_member, django_capture_on_commit_callbacks
):
    """A followers-only reply is not announced to a parent author who does not follow the replier."""
    bob = make_local_member("bob")
    parent = services.create_post(local_member, text="root")
    _post(django_capture_on_commit_callbacks, bob, "secret reply", in_reply_to=parent, visibility="private")
    assert not Notification.objects.exists()


def test_muted_and_blocked_senders_do_not_notify(local_member, make_local_member, django_capture_on_commit_callbacks):
    """A member who muted or blocked the sender gets no notification."""
    from federation.models import ActorBlock
    from microblog.models import Mute

    bob = make_local_member("bob")
    carl = make_local_member("carl")
    Mute.objects.create(owner=local_member, target=bob)
    ActorBlock.objects.create(owner=local_member, target=carl)
    _post(django_capture_on_commit_callbacks, bob, "@alice hi")
    _post(django_capture_on_commit_callbacks, carl, "@alice hi")
    assert not Notification.objects.filter(recipient=local_member).exists()


def test_notify_skips_remote_self_and_duplicates(local_member, make_remote_actor):
    """notify stores nothing for a remote recipient or oneself, and never the same row twice."""
    from microblog.notifications import notify

    remote = make_remote_actor("rem", domain="r.example")[0]
    assert notify(remote, "mention", local_member) is None
    assert notify(local_member, "mention", local_member) is None
    first = notify(local_member, "follow", remote)
    assert first is not None and notify(local_member, "follow", remote) == first
    assert notify(local_member, "no-such-type", remote) is None
    assert Notification.objects.count() == 1


def test_group_audience_is_addressed_and_delivered(local_member, make_remote_actor, django_capture_on_commit_callbacks):
    """A post to a remote group names it in ``to`` and ``audience`` and is delivered to it."""
    from federation.models import ActorType
    from microblog.activitypub import post_to_ap

    group = make_remote_actor("club", domain="g.example", type=ActorType.GROUP)[0]
    post = _post(django_capture_on_commit_callbacks, local_member, "hello club", audience=group)
    assert group.ap_id in post.to and post_to_ap(post)["audience"] == group.ap_id
    assert _inboxes(post) == {group.delivery_inbox}

"""Posts through services: validation, addressing, idempotency, threads, visibility, edits, deletes."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from federation.models import ActorBlock, Delivery, DeliveryState, FollowState, OutboxActivity
from federation.vocab import PUBLIC
from microblog import services
from microblog.models import Media, Notification, Post, PostEdit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]


@pytest.fixture
def bob(make_local_member):
    return make_local_member("bob")


@pytest.fixture
def carol(make_remote_actor):
    return make_remote_actor("carol", domain="remote.example")[0]


def _error(**kwargs) -> services.PostError:
    with pytest.raises(services.PostError) as info:
        services.create_post(**kwargs)
    return info.value


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": "   "}, "status"),
        ({"text": "x" * 501}, "status"),
        ({"text": "x" * 400, "summary": "y" * 101}, "status"),
        ({"text": "hi", "visibility": "everyone"}, "visibility"),
        ({"text": "hi", "language": "not a tag!"}, "language"),
        ({"text": "hi", "poll": {"options": ["a"], "expires_in": 600}}, "poll"),
    ],
)
def test_invalid_post_is_refused_with_field(local_member, kwargs, field):
    """Each invalid input raises PostError naming the parameter, and stores nothing."""
    error = _error(author=local_member, **kwargs)
    assert error.field == field and error.message
    assert Post.objects.count() == 0


def test_too_many_media_is_refused(local_member):
    """More than MICROBLOG_MAX_MEDIA attachments are refused and none gets attached."""
    media = [Media.objects.create(owner=local_member, mime_type="image/png") for _ in range(5)]
    assert _error(author=local_member, text="x", media=media).field == "media_ids"
    assert Media.objects.filter(post__isnull=False).count() == 0 and Post.objects.count() == 0


def test_media_of_another_member_is_refused(local_member, bob):
    """An attachment uploaded by someone else cannot be used."""
    media = Media.objects.create(owner=bob, mime_type="image/png")
    assert _error(author=local_member, text="x", media=[media]).field == "media_ids"
    assert Post.objects.count() == 0


def test_media_and_poll_together_are_refused(local_member):
    """A post cannot carry both attachments and a poll (Mastodon's rule)."""
    media = Media.objects.create(owner=local_member, mime_type="image/png")
    poll = {"options": ["a", "b"], "expires_in": 3600}
    assert _error(author=local_member, text="x", media=[media], poll=poll).field == "media_ids"
    assert Post.objects.count() == 0


def test_reply_to_invisible_post_is_refused(local_member, bob):
    """Replying to a direct post one is not part of is refused like a missing post."""
    secret = services.create_post(bob, text="psst", visibility="direct")
    assert _error(author=local_member, text="hi", in_reply_to=secret).field == "in_reply_to_id"
    assert Post.objects.count() == 1


def test_remote_author_cannot_post_here(carol):
    """Only local members post through services."""
    assert _error(author=carol, text="hi").field == "account"


def test_media_only_post_is_allowed(local_member):
    """An empty text is fine when an image is attached, and the image is attached in order."""
    media = [Media.objects.create(owner=local_member, mime_type="image/png") for _ in range(2)]
    post = services.create_post(local_member, text="", media=media)
    assert list(post.media.order_by("position").values_list("pk", flat=True)) == [m.pk for m in media]


def test_same_idempotency_key_returns_first_post(local_member):
    """A retried request with the same key (same author, within an hour) creates nothing new."""
    first = services.create_post(local_member, text="once", idempotency_key="k1")
    again = services.create_post(local_member, text="once", idempotency_key="k1")
    other = services.create_post(local_member, text="once", idempotency_key="k2")
    assert again.pk == first.pk and other.pk != first.pk
    assert Post.objects.count() == 2


@pytest.mark.parametrize(
    ("visibility", "to", "cc"),
    [
        ("public", ["PUBLIC"], ["FOLLOWERS", "BOB", "CAROL"]),
        ("unlisted", ["FOLLOWERS"], ["PUBLIC", "BOB", "CAROL"]),
        ("private", ["FOLLOWERS"], ["BOB", "CAROL"]),
        ("direct", ["BOB", "CAROL"], []),
    ],
)
def test_addressing_follows_visibility(local_member, bob, carol, visibility, to, cc):
    """to/cc are Mastodon's for each visibility, mentions included."""
    names = {"PUBLIC": PUBLIC, "FOLLOWERS": local_member.followers_url, "BOB": bob.ap_id, "CAROL": carol.ap_id}
    post = services.create_post(local_member, text="@bob @carol@remote.example hi", visibility=visibility)
    assert post.to == [names[n] for n in to]
    assert post.cc == [names[n] for n in cc]
    assert set(post.mentions.values_list("actor_id", flat=True)) == {bob.pk, carol.pk}


def test_ids_are_opaque_and_url_is_the_page(local_member):
    """The post id is an /objects/<uuid> URL and its page is /@user/<pk>."""
    post = services.create_post(local_member, text="hi")
    assert "/objects/" in post.ap_id and "alice" not in post.ap_id
    assert post.url.endswith(f"/@alice/{post.pk}")


def test_language_is_normalised_and_content_mapped(local_member):
    """``zh`` is stored as zh-Hans; Tibetan and Dai codes are accepted; contentMap holds the HTML."""
    post = services.create_post(local_member, text="你好", language="zh")
    assert post.language == "zh-Hans" and post.content_map == {"zh-Hans": post.content}
    for code in ("bo", "khb", "tdd", "en"):
        assert services.create_post(local_member, text="x", language=code).language == code
    codes = [c for c, _ in services.language_choices()]
    assert {"zh-Hans", "en", "bo", "khb", "tdd"} <= set(codes)


def test_content_warning_marks_sensitive(local_member):
    """A summary (content warning) makes the post sensitive."""
    post = services.create_post(local_member, text="spoiler", summary="cw")
    assert post.summary == "cw" and post.sensitive


def test_reply_joins_conversation_and_counts(local_member, bob):
    """A reply inherits the parent's conversation and raises its reply count."""
    parent = services.create_post(bob, text="root")
    reply = services.create_post(local_member, text="re", in_reply_to=parent)
    parent.refresh_from_db()
    assert reply.conversation == parent.conversation != ""
    assert reply.in_reply_to_ap_id == parent.ap_id and parent.replies_count == 1


def test_visibility_matrix(local_member, bob, make_local_member, make_follow):
    """Who sees what: public/unlisted all; private author, accepted followers, mentioned; direct author, mentioned."""
    follower = make_local_member("fan")
    pending = make_local_member("pend")
    stranger = make_local_member("nobody")
    make_follow(follower, local_member)
    make_follow(pending, local_member, state=FollowState.PENDING)
    posts = {
        v: services.create_post(local_member, text="@bob hi", visibility=v)
        for v in ("public", "unlisted", "private", "direct")
    }
    plain_private = services.create_post(local_member, text="fans only", visibility="private")

    def sees(viewer):
        return {p.visibility for p in services.visible_posts(viewer).filter(pk__in=[p.pk for p in posts.values()])}

    assert sees(None) == {"public", "unlisted"}
    assert sees(stranger) == {"public", "unlisted"}
    assert sees(pending) == {"public", "unlisted"}
    assert sees(follower) == {"public", "unlisted", "private"}
    assert sees(bob) == {"public", "unlisted", "private", "direct"}
    assert sees(local_member) == {"public", "unlisted", "private", "direct"}
    assert not services.visible_posts(bob).filter(pk=plain_private.pk).exists()
    assert services.visible_posts(follower).filter(pk=plain_private.pk).exists()


def test_get_post_for_hides_absent_and_invisible_alike(local_member, bob):
    """An invisible post raises the same DoesNotExist as a missing one."""
    secret = services.create_post(local_member, text="psst", visibility="direct")
    with pytest.raises(Post.DoesNotExist):
        services.get_post_for(bob, secret.pk)
    with pytest.raises(Post.DoesNotExist):
        services.get_post_for(bob, secret.pk + 1000)
    assert services.get_post_for(local_member, secret.pk) == secret


def test_blocks_hide_posts_both_ways(local_member, bob):
    """A blocked author's posts are hidden from the blocker, and the blocker's from the blocked."""
    post = services.create_post(bob, text="hi")
    mine = services.create_post(local_member, text="mine")
    ActorBlock.objects.create(owner=local_member, target=bob)
    assert not services.visible_posts(local_member).filter(pk=post.pk).exists()
    assert not services.visible_posts(bob).filter(pk=mine.pk).exists()
    assert services.visible_posts(None).filter(pk=post.pk).exists()


def test_edit_keeps_history(local_member, bob):
    """An edit keeps the original and the new version, sets edited_at and re-renders the text."""
    post = services.create_post(local_member, text="first #old")
    services.edit_post(local_member, post, text="second #new @bob", summary="cw")
    post.refresh_from_db()
    assert post.edited_at is not None and post.summary == "cw" and post.sensitive
    assert "second" in post.content and post.source == "second #new @bob"
    assert list(post.hashtags.values_list("name", flat=True)) == ["new"]
    assert post.mentions.filter(actor=bob).exists() and bob.ap_id in post.cc
    versions = list(PostEdit.objects.filter(post=post).order_by("created_at", "pk").values_list("content", flat=True))
    assert len(versions) == 2 and "first" in versions[0] and "second" in versions[1]


def test_edit_by_another_member_is_denied(local_member, bob):
    """Only the author edits; the post is unchanged and no history is written."""
    post = services.create_post(local_member, text="mine")
    with pytest.raises(PermissionDenied):
        services.edit_post(bob, post, text="hacked")
    post.refresh_from_db()
    assert "mine" in post.content and not PostEdit.objects.exists()


def test_edit_validates_text(local_member):
    """An edit to blank text is refused."""
    post = services.create_post(local_member, text="mine")
    with pytest.raises(services.PostError):
        services.edit_post(local_member, post, text=" ")


def test_delete_by_another_member_is_denied(local_member, bob):
    """Only the author (or staff) deletes; nothing changes otherwise."""
    post = services.create_post(local_member, text="mine")
    with pytest.raises(PermissionDenied):
        services.delete_post(bob, post)
    post.refresh_from_db()
    assert post.deleted_at is None and not OutboxActivity.objects.filter(type="Delete").exists()


def test_staff_moderator_can_delete(local_member, bob):
    """A local staff member may delete another member's post."""
    bob.user.is_staff = True
    bob.user.save()
    post = services.create_post(local_member, text="mine")
    services.delete_post(bob, post)
    post.refresh_from_db()
    assert post.deleted_at is not None


def test_delete_tombstones_cancels_and_federates(
    local_member, bob, carol, make_follow, django_capture_on_commit_callbacks
):
    """Deleting clears the content, fixes the parent's count, cancels pending deliveries and sends Delete."""
    make_follow(carol, local_member)
    parent = services.create_post(bob, text="root")
    with django_capture_on_commit_callbacks(execute=True):
        post = services.create_post(local_member, text="oops @bob", in_reply_to=parent)
    create = OutboxActivity.objects.get(type="Create", object_ap_id=post.ap_id)
    assert create.deliveries.filter(state=DeliveryState.PENDING).count() == 1
    assert Notification.objects.filter(post=post).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_post(local_member, post)
    post.refresh_from_db()
    parent.refresh_from_db()
    assert post.deleted_at is not None and post.content == "" and post.source == "" and post.content_map == {}
    assert parent.replies_count == 0
    assert not create.deliveries.filter(state=DeliveryState.PENDING).exists()
    delete = OutboxActivity.objects.get(type="Delete", object_ap_id=post.ap_id)
    assert delete.body["object"] == {"id": post.ap_id, "type": "Tombstone"}
    assert list(Delivery.objects.filter(activity=delete).values_list("inbox_url", flat=True)) == [carol.delivery_inbox]
    assert not Notification.objects.filter(post=post).exists()
    assert not services.visible_posts(local_member).filter(pk=post.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_post(local_member, post)  # twice: harmless
    assert OutboxActivity.objects.filter(type="Delete").count() == 1


def test_admin_action_tombstones_and_federates(
    client, local_member, make_local_member, django_capture_on_commit_callbacks
):
    """The admin "delete" action tombstones the post through services and queues a Delete."""
    staff = make_local_member("mod")
    staff.user.is_staff = staff.user.is_superuser = True
    staff.user.save()
    post = services.create_post(local_member, text="bad")
    client.force_login(staff.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/microblog/post/", {"action": "delete_and_federate", "_selected_action": [post.pk]}
        )
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.deleted_at is not None and post.content == ""
    assert OutboxActivity.objects.filter(type="Delete", object_ap_id=post.ap_id).exists()


def test_admin_action_refused_for_non_staff(client, local_member, make_local_member):
    """A member without staff rights cannot reach the admin action; nothing is deleted."""
    post = services.create_post(local_member, text="fine")
    client.force_login(local_member.user)
    response = client.post("/admin/microblog/post/", {"action": "delete_and_federate", "_selected_action": [post.pk]})
    assert response.status_code == 302 and "/admin/login" in response["Location"]
    post.refresh_from_db()
    assert post.deleted_at is None

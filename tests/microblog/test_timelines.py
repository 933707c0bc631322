"""Timelines: home (follows, boosts, visibility, mutes/blocks, sparse follow sets, pagination),
public, hashtag, account and notifications, with Mastodon's semantics."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from federation.models import ActorBlock, Follow, FollowState
from microblog import home_feed, timelines
from microblog.models import Hashtag, Mention, Mute, Notification, Pin, Post

pytestmark = pytest.mark.django_db
_serial = itertools.count(1)
_KEYS: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _one_key_pair(monkeypatch, settings):
    """Members here share one RSA key pair and a fast password hash: timelines never sign nor
    log in, and a key costs ~0.5 s."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from federation import actors
    from federation.keys import generate_key_pair

    if not _KEYS:
        _KEYS.append(generate_key_pair())
    monkeypatch.setattr(actors, "generate_key_pair", lambda *a, **k: _KEYS[0])


def make_post(author, text="hello", visibility="public", **fields) -> Post:
    """A stored post (straight to the table: timelines only read)."""
    n = next(_serial)
    return Post.objects.create(
        ap_id=f"{author.ap_id}/posts/{n}",
        author=author,
        local=author.local,
        visibility=visibility,
        content=f"<p>{text}</p>",
        source=text,
        **fields,
    )


def follow(follower, target, state=FollowState.ACCEPTED) -> None:
    Follow.objects.create(follower=follower, target=target, state=state)


@pytest.fixture
def people(make_local_member):
    """alice (reader), bob (followed by alice), carol (not followed)."""
    alice, bob, carol = (make_local_member(n) for n in ("alice", "bob", "carol"))
    follow(alice, bob)
    return alice, bob, carol


def ids(posts) -> list[int]:
    return [p.pk for p in posts]


@pytest.mark.parametrize(
    ("visibility", "follower", "mentioned", "seen"),
    [
        ("public", True, False, True),
        ("unlisted", True, False, True),
        ("private", True, False, True),
        ("direct", True, False, False),
        ("direct", True, True, True),
        ("public", False, False, False),
        ("private", False, True, False),
        ("direct", False, True, False),
    ],
)
def test_home_visibility_matrix(make_local_member, visibility, follower, mentioned, seen):
    """Home shows followed accounts' public, unlisted and followers-only posts, direct ones only
    when mentioned, and nothing from accounts the reader does not follow (Mastodon)."""
    reader, author = make_local_member("reader"), make_local_member("author")
    if follower:
        follow(reader, author)
    post = make_post(author, visibility=visibility)
    if mentioned:
        Mention.objects.create(post=post, actor=reader)
    assert (post.pk in ids(timelines.home(reader))) is seen


def test_home_includes_own_posts_of_every_visibility(people):
    """The reader's own posts, direct ones included, are in its home timeline."""
    alice, _, _ = people
    own = [make_post(alice, visibility=v) for v in ("public", "private", "direct")]
    assert ids(timelines.home(alice)) == ids(reversed(own))


def test_home_pending_follow_shows_nothing(make_local_member):
    """A follow request not yet accepted does not put the target's posts in home."""
    reader, author = make_local_member("reader"), make_local_member("author")
    follow(reader, author, FollowState.PENDING)
    make_post(author, visibility="private")
    make_post(author)
    assert timelines.home(reader) == []


def test_home_shows_boosts_by_followed_accounts(people):
    """A boost by a followed account appears in home with its original attached."""
    alice, bob, carol = people
    original = make_post(carol, "worth sharing")
    boost = make_post(bob, "", reblog_of=original)
    page = timelines.home(alice)
    assert ids(page) == [boost.pk]
    assert page[0].reblog_of.pk == original.pk


def test_home_hides_muted_and_blocked_authors(people, make_local_member):
    """Muted accounts, blocked ones (either direction) and boosts of their posts are hidden."""
    alice, bob, carol = people
    dave = make_local_member("dave")
    follow(alice, dave)
    kept = make_post(bob, "kept")
    make_post(dave, "muted")
    Mute.objects.create(owner=alice, target=dave)
    assert ids(timelines.home(alice)) == [kept.pk]
    make_post(bob, "", reblog_of=make_post(carol, "by carol"))
    ActorBlock.objects.create(owner=carol, target=alice)  # carol blocks alice
    assert ids(timelines.home(alice)) == [kept.pk]
    ActorBlock.objects.create(owner=alice, target=bob)
    assert timelines.home(alice) == []


def test_home_expired_mute_no_longer_hides(people):
    """A mute past its expiry hides nothing."""
    alice, bob, _ = people
    post = make_post(bob)
    Mute.objects.create(owner=alice, target=bob, expires_at=timezone.now() - timedelta(minutes=1))
    assert ids(timelines.home(alice)) == [post.pk]


def test_home_hides_deleted_posts_and_boosts_of_them(people):
    """Tombstoned posts and boosts of tombstoned posts are not shown."""
    alice, bob, carol = people
    make_post(bob, deleted_at=timezone.now())
    gone = make_post(carol, deleted_at=timezone.now())
    make_post(bob, "", reblog_of=gone)
    assert timelines.home(alice) == []


def test_home_filters_replies_to_unfollowed_accounts(people):
    """As Mastodon: replies to accounts the reader does not follow are left out; self-replies,
    replies to the reader and to followed accounts stay."""
    alice, bob, carol = people
    to_carol = make_post(bob, "reply to carol", in_reply_to=make_post(carol))
    thread = make_post(bob, "thread", in_reply_to=make_post(bob, "root"))
    to_alice = make_post(bob, "reply to alice", in_reply_to=make_post(alice, "question"))
    page = ids(timelines.home(alice))
    assert to_carol.pk not in page
    assert thread.pk in page and to_alice.pk in page


def test_home_pagination_max_since_min(people):
    """max_id pages backwards, since_id gives the newest above it, min_id the page right after."""
    alice, bob, _ = people
    posts = [make_post(bob, f"p{i}") for i in range(10)]
    all_ids = ids(reversed(posts))
    assert ids(timelines.home(alice, limit=3)) == all_ids[:3]
    assert ids(timelines.home(alice, max_id=all_ids[2], limit=3)) == all_ids[3:6]
    assert ids(timelines.home(alice, since_id=posts[5].pk, limit=2)) == all_ids[:2]
    assert ids(timelines.home(alice, min_id=posts[5].pk, limit=2)) == [posts[7].pk, posts[6].pk]
    assert ids(timelines.home(alice, min_id=str(posts[1].pk), max_id=str(posts[4].pk))) == [
        posts[3].pk,
        posts[2].pk,
    ]


def test_home_sparse_reader_gets_old_posts_beyond_the_window(people, make_local_member, monkeypatch):
    """A reader whose follows posted only long ago (before many unrelated posts) still gets their
    posts, newest first, through the per-author pass, in both directions."""
    monkeypatch.setattr(home_feed, "HOME_WINDOW", 5)
    alice, bob, carol = people
    dave = make_local_member("dave")
    follow(alice, dave)
    old = [make_post(bob, "b0"), make_post(dave, "d0"), make_post(bob, "b1"), make_post(dave, "d1")]
    for i in range(30):
        make_post(carol, f"noise {i}")
    assert ids(timelines.home(alice, limit=3)) == ids(reversed(old))[:3]
    assert ids(timelines.home(alice)) == ids(reversed(old))
    assert ids(timelines.home(alice, max_id=old[2].pk)) == [old[1].pk, old[0].pk]
    assert ids(timelines.home(alice, min_id=old[0].pk, limit=2)) == [old[2].pk, old[1].pk]


def test_home_per_author_pass_matches_plain_query(people, make_local_member, monkeypatch):
    """On a mixed data set the hybrid returns exactly what a naive filter-and-sort returns."""
    monkeypatch.setattr(home_feed, "HOME_WINDOW", 7)
    alice, bob, carol = people
    others = [make_local_member(f"m{i}") for i in range(6)]
    for m in others[:4]:
        follow(alice, m)
    authors = [bob, carol, *others]
    for i in range(120):
        author = authors[(i * 7 + i // 5) % len(authors)]
        make_post(author, f"n{i}", visibility="private" if i % 9 == 0 else "public")
    wanted = set(f.target_id for f in Follow.objects.filter(follower=alice)) | {alice.pk}
    expected = list(Post.objects.filter(author_id__in=wanted).order_by("-pk").values_list("pk", flat=True))
    got: list[int] = []
    max_id = None
    for _ in range(20):
        page = ids(timelines.home(alice, max_id=max_id, limit=7))
        if not page:
            break
        got += page
        max_id = page[-1]
    assert got == expected


def test_public_timeline_local_remote_and_visibility(people, make_remote_actor):
    """Public shows public posts only, no boosts, no replies to others; local/remote split by
    origin."""
    alice, bob, carol = people
    remote, _ = make_remote_actor("zed")
    local_post = make_post(bob)
    remote_post = make_post(remote)
    make_post(bob, visibility="unlisted")
    make_post(bob, visibility="private")
    make_post(carol, "", reblog_of=local_post)
    make_post(carol, "reply", in_reply_to=local_post)
    assert ids(timelines.public(None)) == [remote_post.pk, local_post.pk]
    assert ids(timelines.public(alice, local=True)) == [local_post.pk]
    assert ids(timelines.public(alice, remote=True)) == [remote_post.pk]
    Mute.objects.create(owner=alice, target=remote)
    assert ids(timelines.public(alice)) == [local_post.pk]


def test_hashtag_timeline_public_posts_with_the_tag(people):
    """A tag timeline lists public posts carrying the tag, case-insensitively."""
    alice, bob, carol = people
    tag = Hashtag.objects.create(name="党建")
    tagged = make_post(carol, "#党建")
    hidden = make_post(bob, "#党建", visibility="private")
    make_post(bob, "untagged")
    tag.posts.add(tagged, hidden)
    assert ids(timelines.hashtag(alice, "#党建")) == [tagged.pk]
    assert timelines.hashtag(alice, "nosuchtag") == []


def test_account_timeline_filters_and_pins(people):
    """Account timeline: exclude_replies keeps self-replies, exclude_reblogs drops boosts,
    pinned gives pinned posts only, private posts only to followers."""
    alice, bob, carol = people
    root = make_post(bob, "root")
    self_reply = make_post(bob, "more", in_reply_to=root)
    other_reply = make_post(bob, "hi carol", in_reply_to=make_post(carol))
    boost = make_post(bob, "", reblog_of=make_post(carol, "shared"))
    private = make_post(bob, "friends", visibility="private")
    Pin.objects.create(actor=bob, post=root)
    assert ids(timelines.account(alice, bob)) == [private.pk, boost.pk, other_reply.pk, self_reply.pk, root.pk]
    assert ids(timelines.account(carol, bob)) == [boost.pk, other_reply.pk, self_reply.pk, root.pk]
    assert other_reply.pk not in ids(timelines.account(alice, bob, exclude_replies=True))
    assert self_reply.pk in ids(timelines.account(alice, bob, exclude_replies=True))
    assert boost.pk not in ids(timelines.account(alice, bob, exclude_reblogs=True))
    assert ids(timelines.account(alice, bob, pinned=True)) == [root.pk]
    ActorBlock.objects.create(owner=bob, target=carol)
    assert timelines.account(carol, bob) == []


def test_notifications_types_mutes_and_pagination(people):
    """Notifications filter by types (mention covers replies), drop muted senders and page by id."""
    alice, bob, carol = people
    post = make_post(alice)
    made = [
        Notification.objects.create(recipient=alice, type=t, from_actor=sender, post=post)
        for t, sender in [("favourite", bob), ("mention", bob), ("reply", carol), ("follow", carol)]
    ]
    assert ids(timelines.notifications(alice)) == ids(reversed(made))
    assert ids(timelines.notifications(alice, types=["mention"])) == [made[2].pk, made[1].pk]
    assert ids(timelines.notifications(alice, exclude_types=["follow", "favourite"])) == [made[2].pk, made[1].pk]
    assert ids(timelines.notifications(alice, max_id=made[2].pk, limit=1)) == [made[1].pk]
    assert ids(timelines.notifications(alice, account_id=str(bob.pk))) == [made[1].pk, made[0].pk]
    Mute.objects.create(owner=alice, target=carol, notifications=True)
    assert ids(timelines.notifications(alice)) == [made[1].pk, made[0].pk]


def test_limit_is_clamped_like_mastodon():
    """limit defaults to 20, never exceeds 40 and bad values fall back to the default."""
    assert timelines.clamp_limit(None) == 20
    assert timelines.clamp_limit("500") == 40
    assert timelines.clamp_limit("x") == 20
    assert timelines.clamp_limit(0) == 1


def test_home_hides_suspended_authors_and_private_boosted_posts(people, make_local_member):
    """Posts of a suspended followed account, and boosts of a followers-only post the reader may
    not see, stay out of home."""
    from federation.models import Actor

    alice, bob, carol = people
    dave = make_local_member("dave")
    follow(alice, dave)
    make_post(dave, "suspended soon")
    Actor.objects.filter(pk=dave.pk).update(suspended=True)
    make_post(bob, "", reblog_of=make_post(carol, "friends only", visibility="private"))
    kept = make_post(bob, "visible")
    assert ids(timelines.home(alice)) == [kept.pk]


def test_home_dense_page_is_one_statement(people, django_assert_max_num_queries):
    """A page the recent window fills costs one SQL statement (posts, authors and boosts
    loaded together), so home stays cheap per read."""
    alice, bob, _ = people
    for i in range(25):
        make_post(bob, f"p{i}")
    with django_assert_max_num_queries(1):
        page = timelines.home(alice)
    assert len(page) == 20 and page[0].author.username == "bob"

"""Search: accounts (prefix, user@domain, resolved remote handles), hashtags, posts by URL
(imported from their origin) and full text, Chinese included, within what the viewer may see.
Runs on whichever database the suite uses (SQLite by default, PostgreSQL in CI)."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection

from federation.keys import generate_key_pair
from federation.models import Actor, ActorBlock, Follow, FollowState
from microblog import search
from microblog.models import Hashtag, Mention, Post

pytestmark = pytest.mark.django_db
AS2 = "application/activity+json"
_serial = itertools.count(1)
_KEYS: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _fast_members(monkeypatch, settings):
    """One shared key pair and a fast password hash: search never signs as a member."""
    from federation import actors

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if not _KEYS:
        _KEYS.append(generate_key_pair())
    monkeypatch.setattr(actors, "generate_key_pair", lambda *a, **k: _KEYS[0])


def make_post(author, text, visibility="public", **fields) -> Post:
    """A stored post (straight to the table: search only reads)."""
    n = next(_serial)
    fields.setdefault("source", text)
    return Post.objects.create(
        ap_id=f"{author.ap_id}/posts/{n}",
        url=f"{author.ap_id}/p/{n}",
        author=author,
        visibility=visibility,
        content=f"<p>{text}</p>",
        **{"local": author.local, **fields},
    )


def pks(items) -> list[int]:
    return [i.pk for i in items]


@pytest.fixture
def people(make_local_member):
    alice, bob, carol = (make_local_member(n) for n in ("alice", "bob", "carol"))
    return alice, bob, carol


def test_full_text_finds_chinese_substring(people):
    """A search for 党员 finds a post containing 党员教育 (no word breaks in Chinese)."""
    alice, bob, _ = people
    hit = make_post(bob, "今天开展党员教育活动")
    make_post(bob, "今天开展团员活动")
    result = search.search(alice, "党员")
    assert pks(result["statuses"]) == [hit.pk]
    assert connection.vendor in ("sqlite", "postgresql")


def test_full_text_all_terms_case_insensitive_newest_first(people):
    """Every term must occur; Latin letters match regardless of case; newest first; the
    content warning is searched too."""
    alice, bob, carol = people
    old = make_post(bob, "Village Meeting on water")
    new = make_post(carol, "the village meeting is moved", summary="Water notice")
    make_post(bob, "village fair")
    assert pks(search.statuses(alice, "VILLAGE water")) == [new.pk, old.pk]
    assert pks(search.statuses(alice, "notice")) == [new.pk]


def test_full_text_ignores_markup_and_wildcards(people):
    """Words found only in HTML markup, and LIKE wildcards in the query, match nothing."""
    alice, bob, _ = people
    make_post(bob, '<a href="https://x.example/" class="mention">link</a>', source="link", local=False)
    assert search.statuses(alice, "href") == []
    assert search.statuses(alice, "%") == []
    assert search.statuses(alice, "_") == []


def test_full_text_respects_visibility(people):
    """Followers-only and direct posts are found only by those allowed to see them; deleted
    posts and authors that block the viewer are never found."""
    from django.utils import timezone

    alice, bob, carol = people
    private = make_post(bob, "党员大会 private")
    private.visibility = "private"
    private.save()
    direct = make_post(bob, "党员大会 direct", visibility="direct")
    Mention.objects.create(post=direct, actor=carol)
    make_post(bob, "党员大会 deleted", deleted_at=timezone.now())
    assert search.statuses(alice, "党员大会") == []
    assert pks(search.statuses(carol, "党员大会")) == [direct.pk]
    Follow.objects.create(follower=alice, target=bob, state=FollowState.ACCEPTED)
    assert pks(search.statuses(alice, "党员大会")) == [private.pk]
    assert search.statuses(None, "党员大会") == []
    ActorBlock.objects.create(owner=bob, target=alice)
    assert search.statuses(alice, "党员大会") == []


def test_full_text_pages_with_offset_and_limit(people):
    """limit and offset page through the matches."""
    alice, bob, _ = people
    posts = [make_post(bob, f"学习 {i}") for i in range(5)]
    newest_first = pks(reversed(posts))
    assert pks(search.statuses(alice, "学习", limit=2)) == newest_first[:2]
    assert pks(search.statuses(alice, "学习", limit=2, offset=2)) == newest_first[2:4]


def test_accounts_by_prefix_exact_first(make_local_member, make_remote_actor):
    """Accounts match by username or display-name prefix; the exact username comes first."""
    ann = make_local_member("ann")
    anna = make_local_member("anna", name="张安娜")
    remote, _ = make_remote_actor("annie", domain="other.example")
    result = search.search(None, "ann", type="accounts")
    assert pks(result["accounts"])[0] == ann.pk
    assert set(pks(result["accounts"])) == {ann.pk, anna.pk, remote.pk}
    assert pks(search.accounts(None, "张")) == [anna.pk]
    assert pks(search.accounts(None, "@annie@other.example")) == [remote.pk]
    assert result["statuses"] == [] and result["hashtags"] == []


def test_accounts_hides_blocked_and_suspended(people, make_remote_actor):
    """Suspended actors and actors blocking the viewer are not listed."""
    alice, bob, carol = people
    ActorBlock.objects.create(owner=bob, target=alice)
    Actor.objects.filter(pk=carol.pk).update(suspended=True)
    assert pks(search.accounts(alice, "bob")) == []
    assert pks(search.accounts(alice, "carol")) == []
    assert pks(search.accounts(None, "bob")) == [bob.pk]


def _serve_actor(server, username: str) -> str:
    """WebFinger and actor document for ``username`` on the fake server; returns the actor id."""
    actor_id = server.url(f"/users/{username}")
    host = actor_id.split("/")[2]
    _, public_pem = generate_key_pair() if not _KEYS else _KEYS[0]
    server.route(
        "GET",
        "/.well-known/webfinger",
        json={
            "subject": f"acct:{username}@{host}",
            "links": [{"rel": "self", "type": AS2, "href": actor_id}],
        },
        headers={"Content-Type": "application/jrd+json"},
    )
    server.route(
        "GET",
        f"/users/{username}",
        json={
            "id": actor_id,
            "type": "Person",
            "preferredUsername": username,
            "name": "Zed Remote",
            "inbox": f"{actor_id}/inbox",
            "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": public_pem},
        },
        headers={"Content-Type": AS2},
    )
    return actor_id


def test_accounts_resolves_unknown_remote_handle(settings, fake_server, local_member):
    """user@domain of an unknown remote account is resolved by WebFinger when resolve is set,
    and not looked up at all without it."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    actor_id = _serve_actor(fake_server, "zed")
    handle = f"zed@{actor_id.split('/')[2]}"
    assert search.search(local_member, handle, type="accounts")["accounts"] == []
    assert fake_server.requests == []
    found = search.search(local_member, handle, type="accounts", resolve=True)["accounts"]
    assert [a.ap_id for a in found] == [actor_id]
    assert Actor.objects.filter(ap_id=actor_id, local=False).exists()


def test_anonymous_search_never_resolves(settings, fake_server, db):
    """Without a signed-in viewer, resolve is ignored: no remote request is made."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    actor_id = _serve_actor(fake_server, "zed")
    assert search.search(None, f"zed@{actor_id.split('/')[2]}", resolve=True)["accounts"] == []
    assert fake_server.requests == []


def test_hashtags_by_prefix(db):
    """Hashtags match by prefix, '#' optional, exact name first."""
    tags = [Hashtag.objects.create(name=n) for n in ("党建工作", "党建", "农业")]
    assert pks(search.hashtags("#党建")) == [tags[1].pk, tags[0].pk]
    assert pks(search.search(None, "农", type="hashtags")["hashtags"]) == [tags[2].pk]


def test_status_by_url_known_post(people):
    """A post we hold is found by its id or its page URL, only if visible to the viewer."""
    alice, bob, _ = people
    post = make_post(bob, "hello")
    assert pks(search.search(alice, post.ap_id)["statuses"]) == [post.pk]
    assert pks(search.search(alice, post.url)["statuses"]) == [post.pk]
    hidden = make_post(bob, "secret", visibility="private")
    assert search.search(alice, hidden.ap_id)["statuses"] == []


def test_status_by_url_resolve_imports_remote_note(settings, fake_server, local_member):
    """With resolve, an unknown post URL is fetched (signed) from its origin and imported."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    actor_id = _serve_actor(fake_server, "zed")
    note_id = fake_server.url("/notes/1")
    fake_server.route(
        "GET",
        "/notes/1",
        json={
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": note_id,
            "type": "Note",
            "attributedTo": actor_id,
            "content": "<p>远方的党员教育</p>",
            "published": "2025-01-02T03:04:05Z",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [f"{actor_id}/followers"],
        },
        headers={"Content-Type": AS2},
    )
    assert search.search(local_member, note_id)["statuses"] == []  # no resolve: no fetch
    assert fake_server.requests_to("/notes/1", "GET") == []
    found = search.search(local_member, note_id, resolve=True)["statuses"]
    assert [p.ap_id for p in found] == [note_id]
    assert found[0].author.ap_id == actor_id and "党员教育" in found[0].content
    assert fake_server.requests_to("/notes/1", "GET")[0].header("signature")
    assert pks(search.statuses(local_member, "党员")) == [found[0].pk]


def test_status_by_url_refuses_foreign_attribution(settings, fake_server, local_member):
    """A fetched note attributed to an actor on another host is not imported."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    note_id = fake_server.url("/notes/2")
    fake_server.route(
        "GET",
        "/notes/2",
        json={
            "id": note_id,
            "type": "Note",
            "attributedTo": "https://elsewhere.example/users/mallory",
            "content": "<p>spoof</p>",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
        },
        headers={"Content-Type": AS2},
    )
    assert search.search(local_member, note_id, resolve=True)["statuses"] == []
    assert not Post.objects.filter(ap_id=note_id).exists()

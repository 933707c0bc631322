"""Issue 4 acceptance: the microblog across devnet nodes, driven only through the client API with Mastodon.py.

Cast: alice@county-a and dave@county-a follow bob@county-b; carol@province follows nobody.
Every step goes through the Mastodon client API of the member's own node; federation between
the nodes is asynchronous, so reads poll with a deadline. A failing step names itself and quotes
the error lines of the nodes' logs.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import requests
from mastodon import MastodonNotFoundError
from PIL import Image

from tests.e2e.mastodon_helpers import client, ensure_member, find_by_uri, host, png_bytes, poll_for, step

pytestmark = pytest.mark.e2e

TAG = "redcloudaccept"


def _resolve_account(api, handle: str):
    """Find a (possibly remote) account by ``user@host`` as apps do: search with resolve, then lookup."""
    found = [acc for acc in api.account_search(handle, resolve=True, limit=5) if acc.acct == handle]
    if found:
        return found[0]
    return api.account_lookup(handle)


def _home(api, uri: str):
    return find_by_uri(api.timeline_home(limit=40), uri)


@pytest.fixture(scope="module")
def cast(devnet):
    """Members, their Mastodon.py clients, and the follows alice→bob and dave→bob made through the API."""
    a, b, p = devnet.nodes["county-a"], devnet.nodes["county-b"], devnet.nodes["province"]
    nodes = [a, b, p]
    with step("create members and API clients", nodes):
        alice = client(a, ensure_member(a, "alice_mc"))
        dave = client(a, ensure_member(a, "dave_mc"))
        bob = client(b, ensure_member(b, "bob_mc"))
        carol = client(p, ensure_member(p, "carol_mc"))
        assert alice.account_verify_credentials().username == "alice_mc"
    bob_handle = f"bob_mc@{host(b)}"
    for name, api in (("alice", alice), ("dave", dave)):
        with step(f"{name} finds bob by search with resolve and follows him", nodes):
            account = _resolve_account(api, bob_handle)
            assert account.acct == bob_handle and account.username == "bob_mc"
            relationship = api.account_follow(account.id)
            assert relationship.following or relationship.requested
        with step(f"{name}'s follow of bob is accepted (Accept reached county-a)", nodes):
            poll_for(
                lambda api=api, account=account: api.account_relationships(account.id)[0].following,
                f"{name} follows bob",
            )
    return SimpleNamespace(
        a=a,
        b=b,
        p=p,
        nodes=nodes,
        alice=alice,
        dave=dave,
        bob=bob,
        carol=carol,
        alice_handle=f"alice_mc@{host(a)}",
        bob_handle=bob_handle,
    )


def test_post_with_mention_tag_image_then_interactions_edit_and_delete(cast):
    """bob's post (mention, hashtag, image) reaches alice; her reply, like and boost notify bob; edit and delete reach county-a."""
    c = cast
    with step("bob uploads an image (POST /api/v2/media)", c.nodes):
        media = c.bob.media_post(png_bytes(), mime_type="image/png", description="A green field", file_name="f.png")
        assert media.type == "image" and media.description == "A green field"
    with step("bob posts with a mention of alice, a hashtag and the image", c.nodes):
        text = f"Hello @{c.alice_handle} #{TAG} first post"
        posted = c.bob.status_post(text, media_ids=[media], visibility="public", idempotency_key="accept-1")
        assert [m.acct for m in posted.mentions] == [c.alice_handle]
        assert TAG in [t.name.lower() for t in posted.tags]
        assert len(posted.media_attachments) == 1 and posted.media_attachments[0].url
    with step("bob's image is served by county-b, re-encoded without metadata", c.nodes):
        image_url = posted.media_attachments[0].url
        response = requests.get(image_url, timeout=10, proxies={"http": "", "https": ""})
        assert response.status_code == 200, f"GET {image_url} -> {response.status_code}"
        assert Image.open(io.BytesIO(response.content)).format == "PNG"

    with step("alice sees bob's post in her home timeline on county-a", c.nodes):
        seen = poll_for(lambda: _home(c.alice, posted.uri), "bob's post in alice's home timeline")
        assert seen.account.acct == c.bob_handle
        assert c.alice_handle.split("@")[0] in [m.username for m in seen.mentions]
        assert TAG in [t.name.lower() for t in seen.tags]
        assert len(seen.media_attachments) == 1
        attachment = seen.media_attachments[0]
        assert attachment.type == "image" and attachment.description == "A green field"
        assert (attachment.remote_url or attachment.url).startswith(c.b.base_url)

    with step("alice replies, likes and boosts", c.nodes):
        reply = c.alice.status_post(f"@{c.bob_handle} thanks!", in_reply_to_id=seen.id)
        assert reply.in_reply_to_id == seen.id
        assert c.alice.status_favourite(seen.id).favourited
        assert c.alice.status_reblog(seen.id).reblog.id == seen.id
    with step("bob gets mention, favourite and reblog notifications from alice", c.nodes):

        def types_from_alice() -> set[str]:
            return {
                n.type
                for n in c.bob.notifications(limit=40)
                if n.account.acct == c.alice_handle and (n.type == "mention" or n.status.id == posted.id)
            }

        poll_for(lambda: {"mention", "favourite", "reblog"} <= types_from_alice(), "bob's notifications")
        assert {"mention", "favourite", "reblog"} <= types_from_alice()
    with step("bob's post shows the reply, like and boost counts on county-b", c.nodes):
        poll_for(
            lambda: (lambda s: s.replies_count == 1 and s.favourites_count == 1 and s.reblogs_count == 1)(
                c.bob.status(posted.id)
            ),
            "counts on bob's post",
        )
        context = c.bob.status_context(posted.id)
        assert reply.uri in [s.uri for s in context.descendants]

    with step("bob edits the post and county-a shows the edit", c.nodes):
        edited = c.bob.status_update(posted.id, f"Hello @{c.alice_handle} #{TAG} edited post")
        assert edited.edited_at is not None and "edited post" in edited.content
        assert len(c.bob.status_history(posted.id)) == 2
        poll_for(lambda: "edited post" in c.alice.status(seen.id).content, "the edit on county-a")
        assert c.alice.status(seen.id).edited_at is not None
    with step("bob deletes the post and it is gone on county-a", c.nodes):
        c.bob.status_delete(posted.id)
        with pytest.raises(MastodonNotFoundError):
            c.bob.status(posted.id)

        def gone_on_a() -> bool:
            try:
                c.alice.status(seen.id)
            except MastodonNotFoundError:
                return True
            return False

        poll_for(gone_on_a, "the delete to reach county-a")
        assert _home(c.alice, posted.uri) is None


def test_poll_vote_counts_on_both_nodes(cast):
    """alice votes on bob's poll from county-a; the count shows on county-b and, after Update{Question}, on county-a."""
    c = cast
    with step("bob posts a poll", c.nodes):
        poll = c.bob.make_poll(["Tea", "Coffee"], expires_in=3600)
        posted = c.bob.status_post(f"Tea or coffee? #{TAG}", poll=poll)
        assert [o.title for o in posted.poll.options] == ["Tea", "Coffee"]
    with step("alice sees the poll on county-a and votes", c.nodes):
        seen = poll_for(lambda: _home(c.alice, posted.uri), "bob's poll in alice's home timeline")
        assert seen.poll is not None and [o.title for o in seen.poll.options] == ["Tea", "Coffee"]
        voted = c.alice.poll_vote(seen.poll.id, [1])
        assert voted.voted and voted.own_votes == [1]
    with step("the vote is counted on county-b (bob's node)", c.nodes):
        poll_for(lambda: c.bob.poll(posted.poll.id).options[1].votes_count == 1, "the vote on county-b")
        assert c.bob.poll(posted.poll.id).votes_count == 1
    with step("county-a shows the count after bob's node sends the new totals", c.nodes):
        poll_for(
            lambda: (
                c.alice.poll(seen.poll.id).options[1].votes_count == 1 and c.dave.poll(seen.poll.id).votes_count == 1
            ),
            "the count on county-a",
        )
    with step("a second vote by alice is refused", c.nodes):
        with pytest.raises(Exception) as exc:
            c.alice.poll_vote(seen.poll.id, [0])
        assert "422" in str(exc.value) or "already" in str(exc.value).lower()


def test_followers_only_and_direct_posts_reach_only_their_audience(cast):
    """A followers-only post never reaches carol (not a follower); a direct post reaches only alice, not dave."""
    c = cast
    with step("bob posts followers-only and direct", c.nodes):
        private = c.bob.status_post(f"followers only #{TAG}", visibility="private")
        direct = c.bob.status_post(f"@{c.alice_handle} just for you", visibility="direct")
        assert (private.visibility, direct.visibility) == ("private", "direct")
    with step("followers alice and dave see the followers-only post", c.nodes):
        seen_private = poll_for(lambda: _home(c.alice, private.uri), "the followers-only post for alice")
        assert seen_private.visibility == "private"
        poll_for(lambda: _home(c.dave, private.uri), "the followers-only post for dave")
    with step("alice gets the direct post as a mention", c.nodes):

        def direct_for_alice():
            for n in c.alice.notifications(types=["mention"], limit=40):
                if n.status and n.status.uri == direct.uri:
                    return n.status
            return None

        seen_direct = poll_for(direct_for_alice, "the direct post in alice's notifications")
        assert seen_direct.visibility == "direct"
        assert c.alice.status(seen_direct.id).uri == direct.uri
    with step("dave (a follower, not mentioned) never sees the direct post", c.nodes):
        assert _home(c.dave, direct.uri) is None
        with pytest.raises(MastodonNotFoundError):
            c.dave.status(seen_direct.id)
        assert not [n for n in c.dave.notifications(limit=40) if n.status and n.status.uri == direct.uri]
    with step("carol on the province never gets either post", c.nodes):
        assert _home(c.carol, private.uri) is None and _home(c.carol, direct.uri) is None
        for post in (private, direct):
            result = c.carol.search_v2(post.uri, resolve=True, result_type="statuses")
            assert not [s for s in result.statuses if s.uri == post.uri], f"carol resolved {post.visibility} post"
        bob_on_p = _resolve_account(c.carol, c.bob_handle)
        assert not {private.uri, direct.uri} & {s.uri for s in c.carol.account_statuses(bob_on_p.id, limit=40)}
    with step("the public timelines of bob's node do not list them", c.nodes):
        public = c.bob.timeline_public(local=True, limit=40)
        assert find_by_uri(public, private.uri) is None and find_by_uri(public, direct.uri) is None

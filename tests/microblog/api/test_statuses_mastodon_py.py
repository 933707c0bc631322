"""The Mastodon.py library, unchanged, drives the statuses, media, polls, timelines,
notifications, markers and search endpoints of a live test server (loopback only)."""

from __future__ import annotations

import pytest

from microblog.models import Post
from tests.microblog.api.conftest_p4 import png_bytes


@pytest.mark.django_db(transaction=True)
def test_mastodon_py_round_trip(live_server, settings, alice, bob, token_for, media_root):
    """Post with media and a poll, vote, like, edit, page the timeline, read notifications,
    set markers, search and delete, all through Mastodon.py."""
    from mastodon import Mastodon

    settings.NODE_BASE_URL = live_server.url
    a = Mastodon(api_base_url=live_server.url, access_token=token_for(alice, "read write"), request_timeout=10)
    b = Mastodon(api_base_url=live_server.url, access_token=token_for(bob, "read write"), request_timeout=10)

    media = a.media_post(png_bytes(), mime_type="image/png", description="red", file_name="red.png")
    assert media.type == "image" and media.url
    pic = a.status_post("picture #党建", media_ids=[media], idempotency_key="once")
    assert a.status_post("picture #党建", media_ids=[media], idempotency_key="once").id == pic.id
    assert pic.media_attachments[0].description == "red"
    poll_status = a.status_post("vote?", poll=a.make_poll(["yes", "no"], expires_in=600))
    voted = b.poll_vote(poll_status.poll.id, [0])
    assert voted.voted and voted.options[0].votes_count == 1

    b.status_favourite(pic.id)
    b.status_post("@alice nice", in_reply_to_id=pic.id)
    edited = a.status_update(pic.id, status="picture, edited #党建")
    assert "edited" in edited.content and len(a.status_history(pic.id)) == 2
    assert [s.id for s in a.status_context(pic.id).descendants]

    for i in range(3):
        a.status_post(f"filler {i}")
    page = a.timeline_home(limit=2)
    older = a.fetch_next(page)
    assert len(page) == 2 and older and older[0].id < page[-1].id
    assert [s.id for s in a.timeline_hashtag("党建")] == [pic.id]

    notes = a.notifications()
    assert {"favourite", "mention"} <= {n.type for n in notes}
    a.markers_set(["notifications"], [notes[0].id])
    assert str(a.markers_get(["notifications"])["notifications"].last_read_id) == str(notes[0].id)
    assert [s.id for s in b.search_v2("filler 1", result_type="statuses").statuses]

    gone = a.status_delete(pic.id)
    assert gone.text == "picture, edited #党建"
    assert Post.objects.get(pk=pic.id).deleted_at is not None

"""Bulk storage of plain remote posts by inbox drains (``microblog.inbound_bulk``): the same
rows as the one-by-one handler, in a handful of queries, and every special case still taken by
the one-by-one handler."""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federation import registry
from federation.inbound import drain_inbox, process_item
from federation.models import InboxItem, InboxItemState
from federation.vocab import PUBLIC
from microblog import inbound_bulk, services
from microblog.inbound import _deleted_key, handle_create_note
from microblog.models import Mention, Post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def spy(monkeypatch):
    """Counts the entries the bulk path finished (the registered batch handler, wrapped)."""
    finished: list[int] = []
    real = registry.batch_handler_for(handle_create_note)
    assert real is inbound_bulk.create_notes

    def counting(entries):
        done = real(entries)
        finished.append(sum(done))
        return done

    monkeypatch.setitem(registry._batch_handlers, handle_create_note, counting)
    return finished


def note(actor, key: str, **fields) -> dict:
    doc = {
        "id": f"{actor.ap_id}/statuses/{key}",
        "type": "Note",
        "attributedTo": actor.ap_id,
        "to": [PUBLIC],
        "cc": [f"{actor.ap_id}/followers"],
        "content": f"<p>hello {key}</p>",
        "published": "2025-01-01T00:00:00Z",
    }
    doc.update(fields)
    return doc


def store(obj: dict, actor, **fields) -> InboxItem:
    """An inbox item holding ``Create{obj}`` from ``actor``, as the inbox view stores it."""
    activity = {"id": f"{actor.ap_id}/activities/{next(_ids)}", "type": "Create", "actor": actor.ap_id}
    activity.update(object=obj, to=obj.get("to", []), **fields)
    return InboxItem.objects.create(
        activity_id=activity["id"], activity_type="Create", actor_id=actor.ap_id, domain=actor.domain,
        body=json.dumps(activity),
    )  # fmt: skip


def states() -> dict[str, int]:
    out: dict[str, int] = {}
    for state in InboxItem.objects.values_list("state", flat=True):
        out[state] = out.get(state, 0) + 1
    return out


def test_drain_stores_plain_posts_in_a_few_queries(alice, bob, spy):
    """Forty plain posts (two hashtags each) take a handful of queries, not hundreds."""
    for n in range(40):
        tags = [{"type": "Hashtag", "name": "#Redcloud", "href": "x"}, {"type": "Hashtag", "name": f"#t{n % 3}"}]
        store(note(bob, f"p{n}", tag=tags), bob)
    with CaptureQueriesContext(connection) as queries:
        assert drain_inbox() == 40
    assert spy == [40]
    assert len(queries) < 40, [q["sql"][:80] for q in queries.captured_queries]
    assert states() == {InboxItemState.PROCESSED: 40}
    assert Post.objects.filter(author=bob).count() == 40
    post = Post.objects.get(ap_id=f"{bob.ap_id}/statuses/p4")
    assert sorted(post.hashtags.values_list("name", flat=True)) == ["redcloud", "t1"]
    assert services.visible_posts(None).filter(pk=post.pk).exists()


VARIANTS = {
    "plain": {},
    "hashtags_and_emoji": {
        "tag": [
            {"type": "Hashtag", "name": "#党建"},
            {"type": "Emoji", "name": ":x:", "icon": {"type": "Image", "url": "https://remote.example/x.png"}},
        ]
    },
    "unlisted": {"to": ["https://remote.example/users/bob/followers"], "cc": [PUBLIC]},
    "followers_only": {"to": ["https://remote.example/users/bob/followers"], "cc": []},
    "chinese_content_map": {"contentMap": {"zh": "<p>你好，同志们</p>"}, "content": "<p>你好，同志们</p>"},
    "warning": {"summary": "剧透", "sensitive": True},
    "edited_page": {
        "type": "Page",
        "name": "A title",
        "updated": "2025-01-03T00:00:00Z",
        "url": "https://remote.example/p/1",
    },
    "hostile_html": {"content": '<p onclick="x()">hi<script>alert(1)</script><a href="javascript:x">l</a></p>'},
}
COMPARED = (
    "object_type", "content", "content_map", "language", "name", "summary", "sensitive", "visibility", "to", "cc",
    "published_at", "edited_at", "in_reply_to_ap_id", "conversation", "local", "author_id", "audience_id",
)  # fmt: skip


def _row(post: Post) -> dict:
    """The compared fields, with the copy's marker ("bulk-"/"one-") taken out of the text."""
    row = {f: getattr(post, f) for f in (*COMPARED, "url")}
    for f, value in row.items():
        if isinstance(value, str | dict):
            row[f] = json.loads(json.dumps(value).replace("bulk-", "").replace("one-", ""))
    row["hashtags"] = sorted(post.hashtags.values_list("name", flat=True))
    return row


def test_bulk_and_one_by_one_store_the_same_rows(alice, bob, spy):
    """Each variant stored by a bulk drain equals the same document stored by the handler."""
    for name, fields in VARIANTS.items():
        store(note(bob, f"bulk-{name}", **fields), bob)
    assert drain_inbox() == len(VARIANTS)
    assert spy == [len(VARIANTS)]
    for name, fields in VARIANTS.items():
        process_item(store(note(bob, f"one-{name}", **fields), bob))
    assert states() == {InboxItemState.PROCESSED: 2 * len(VARIANTS)}
    for name in VARIANTS:
        bulk = Post.objects.get(ap_id=f"{bob.ap_id}/statuses/bulk-{name}")
        one = Post.objects.get(ap_id=f"{bob.ap_id}/statuses/one-{name}")
        assert _row(bulk) == _row(one), name


def test_special_cases_go_through_the_handler(alice, bob, mallory, make_follow, spy):
    """Mentions, replies, replays, deletes, duplicates, waiting replies, strangers and forgeries
    in one batch beside plain posts: each ends as the one-by-one handler makes it end."""
    parent = services.create_post(alice, text="root")
    known = Post.objects.create(ap_id=f"{bob.ap_id}/statuses/known", author=bob, content="<p>old</p>")
    early_reply = Post.objects.create(
        ap_id="https://elsewhere.example/r/1", author=mallory, in_reply_to_ap_id=f"{bob.ap_id}/statuses/awaited"
    )
    cache.set(_deleted_key(f"{bob.ap_id}/statuses/gone"), 1)  # a Delete came first
    store(note(bob, "plain1"), bob)
    store(note(bob, "mention", tag=[{"type": "Mention", "href": alice.ap_id, "name": "@alice"}]), bob)
    store(note(bob, "reply", inReplyTo=parent.ap_id), bob)
    store(note(bob, "known", content="<p>changed</p>"), bob)
    store(note(bob, "gone"), bob)
    store(note(bob, "twice"), bob)
    store(note(bob, "twice"), bob)
    store(note(bob, "awaited"), bob)
    store(note(mallory, "stranger"), mallory)
    store(note(bob, "forged", id=f"{mallory.ap_id}/statuses/forged"), mallory)
    store(note(bob, "plain2"), bob)
    assert drain_inbox() == 11
    assert spy == [6]  # plain1, plain2, known (replay), gone, the first "twice", stranger (dropped)
    assert states() == {InboxItemState.PROCESSED: 10, InboxItemState.REJECTED: 1}
    stored = set(Post.objects.filter(author=bob).values_list("ap_id", flat=True))
    base = f"{bob.ap_id}/statuses/"
    assert stored == {base + k for k in ("plain1", "plain2", "mention", "reply", "known", "twice", "awaited")}
    assert Mention.objects.filter(post__ap_id=base + "mention", actor=alice).exists()
    parent.refresh_from_db()
    assert parent.replies_count == 1 and Post.objects.get(ap_id=base + "reply").in_reply_to == parent
    known.refresh_from_db()
    assert known.content == "<p>old</p>"
    early_reply.refresh_from_db()
    assert early_reply.in_reply_to == Post.objects.get(ap_id=base + "awaited")
    assert not Post.objects.filter(author=mallory).exclude(pk=early_reply.pk).exists()


def test_failing_batch_is_undone_and_processed_one_by_one(alice, bob, monkeypatch):
    """A batch handler that breaks after writing leaves no trace; every item is then stored by
    the one-by-one handler."""

    def broken(entries):
        inbound_bulk.create_notes(entries)
        raise RuntimeError("broke after writing")

    monkeypatch.setitem(registry._batch_handlers, handle_create_note, broken)
    for n in range(5):
        store(note(bob, f"b{n}"), bob)
    assert drain_inbox() == 5
    assert states() == {InboxItemState.PROCESSED: 5}
    assert Post.objects.filter(author=bob).count() == 5


def test_suspended_sender_is_left_to_the_checks(alice, bob):
    """A sender suspended after its activities were accepted is refused item by item."""
    for n in range(3):
        store(note(bob, f"s{n}"), bob)
    bob.suspended = True
    bob.save(update_fields=["suspended"])
    assert drain_inbox() == 3
    assert states() == {InboxItemState.REJECTED: 3}
    assert not Post.objects.filter(author=bob).exists()


def test_strangers_posts_dropped_in_bulk_unless_another_rule_wants_them(alice, bob, mallory, spy):
    """Plain posts from an actor nobody follows are dropped in bulk; one addressed (in the
    activity) to a member, or delivered to a member's own inbox, goes one by one and is kept."""
    for n in range(3):
        store(note(mallory, f"drop{n}"), mallory)
    store(note(mallory, "addressed"), mallory, cc=[alice.ap_id])
    item = store(note(mallory, "personal"), mallory)
    InboxItem.objects.filter(pk=item.pk).update(recipient=alice)
    assert drain_inbox() == 5
    assert spy == [3]
    assert states() == {InboxItemState.PROCESSED: 5}
    kept = set(Post.objects.filter(author=mallory).values_list("ap_id", flat=True))
    assert kept == {f"{mallory.ap_id}/statuses/addressed", f"{mallory.ap_id}/statuses/personal"}

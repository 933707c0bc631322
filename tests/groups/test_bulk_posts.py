"""Group posts among remote posts stored in bulk by an inbox drain
(``groups.posts.on_posts_created``): a post naming our group only in a field the bulk path does
not look at (Smithereen's ``target``, a ``context``) is still carried and announced; the plain
posts around it are not."""

from __future__ import annotations

import itertools
import json

import pytest

from federation.inbound import drain_inbox
from federation.models import Follow, FollowState, InboxItem, InboxItemState, OutboxActivity
from federation.vocab import PUBLIC
from groups.models import GroupPost
from microblog.models import Post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
_ids = itertools.count(1)


@pytest.fixture
def bob(make_remote_actor):
    return make_remote_actor("bob", domain="remote.example")[0]


@pytest.fixture
def open_group(make_group, secretary, make_member, bob, local_member):
    """An open branch with bob (remote) as a member; alice (local) follows bob."""
    group = make_group("open1", secretary=secretary, members_only=False)
    make_member(group, local_member)
    make_member(group, bob)
    Follow.objects.create(
        follower=local_member, target=bob, ap_id=f"{local_member.ap_id}#f", state=FollowState.ACCEPTED
    )
    return group


def store(actor, n: int, **fields) -> None:
    obj = {
        "id": f"{actor.ap_id}/statuses/{n}",
        "type": "Note",
        "attributedTo": actor.ap_id,
        "to": [PUBLIC],
        "cc": [f"{actor.ap_id}/followers"],
        "content": f"<p>post {n}</p>",
        **fields,
    }
    activity = {"id": f"{actor.ap_id}/activities/{next(_ids)}", "type": "Create", "actor": actor.ap_id, "object": obj}
    InboxItem.objects.create(
        activity_id=activity["id"], activity_type="Create", actor_id=actor.ap_id, domain=actor.domain,
        body=json.dumps(activity),
    )  # fmt: skip


@pytest.mark.parametrize("field", ["target", "context"])
def test_group_named_outside_to_cc_is_carried_from_a_bulk_batch(open_group, bob, field):
    group_id = open_group.actor.ap_id
    named = (
        {"type": "Collection", "id": f"{group_id}/wall", "attributedTo": group_id} if field == "target" else group_id
    )
    store(bob, 1)
    store(bob, 2, **{field: named})
    store(bob, 3)
    assert drain_inbox() == 3
    assert set(InboxItem.objects.values_list("state", flat=True)) == {InboxItemState.PROCESSED}
    carried = GroupPost.objects.filter(group_actor=open_group.actor)
    assert [row.post.ap_id for row in carried] == [f"{bob.ap_id}/statuses/2"]
    announced = OutboxActivity.objects.filter(actor=open_group.actor, type="Announce")
    assert {a.body["object"]["object"]["id"] for a in announced if a.body["object"].get("type") == "Create"} == {
        f"{bob.ap_id}/statuses/2"
    }
    assert Post.objects.filter(author=bob).count() == 3

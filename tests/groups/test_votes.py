"""Group votes: polls attributed to the group, members-only and once per member across nodes,
secret ballots, turnout, and results federated when the poll closes."""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.exceptions import PermissionDenied

from federation.inbound import process_item
from federation.models import Delivery, InboxItem, InboxItemState, OutboxActivity
from groups.votes import create_group_poll, results, turnout, vote_in_group
from microblog.activitypub import post_to_ap
from microblog.api import serializers
from microblog.models import Poll, PollVote
from microblog.polls import PollError, close_poll

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
_ids = itertools.count(1)


@pytest.fixture
def bob(make_remote_actor):
    return make_remote_actor("bob", domain="remote.example")[0]


@pytest.fixture
def mallory(make_remote_actor):
    return make_remote_actor("mallory", domain="remote.example")[0]


@pytest.fixture
def members(group, make_member, local_member, bob):
    """alice (local) and bob (remote) are members of branch1 besides its secretary."""
    make_member(group, local_member)
    make_member(group, bob)
    return [local_member, bob]


def make_poll(group, secretary, *, secret: bool = False, multiple: bool = False) -> Poll:
    post = create_group_poll(
        secretary, group, text="Who chairs?", options=["Li", "Wang"], expires_in=3600, multiple=multiple, secret=secret
    )
    return Poll.objects.get(post=post)


def remote_vote(poll: Poll, voter, *names: str) -> InboxItem:
    """Deliver ``voter``'s Create{Note{name, inReplyTo}} (one note, or GoToSocial's list) to the group."""
    notes = [
        {
            "id": f"{voter.ap_id}/votes/{next(_ids)}",
            "type": "Note",
            "name": name,
            "attributedTo": voter.ap_id,
            "inReplyTo": poll.post.ap_id,
            "to": [poll.post.author.ap_id],
        }
        for name in names
    ]
    activity = {
        "id": f"{voter.ap_id}/activities/{next(_ids)}",
        "type": "Create",
        "actor": voter.ap_id,
        "to": [poll.post.author.ap_id],
        "object": notes[0] if len(notes) == 1 else notes,
    }
    item = InboxItem.objects.create(
        activity_id=activity["id"],
        activity_type="Create",
        actor_id=voter.ap_id,
        domain=voter.domain,
        body=json.dumps(activity),
    )
    process_item(item)
    item.refresh_from_db()
    return item


def test_group_poll_is_question_by_the_group(group, secretary, members):
    """An officer's poll is a Question attributed to the group, addressed to its members."""
    poll = make_poll(group, secretary)
    doc = post_to_ap(poll.post)
    assert doc["type"] == "Question" and doc["attributedTo"] == group.actor.ap_id
    assert doc["to"] == [group.actor.followers_url]


def test_poll_creation_refused_without_permission(group, members, local_member):
    """A plain member cannot open a group poll; nothing is stored."""
    with pytest.raises(PermissionDenied):
        make_poll(group, local_member)
    assert not Poll.objects.exists()


def test_member_vote_counted_once(group, secretary, members, local_member):
    """A local member's vote counts; a second vote is refused and not counted."""
    poll = make_poll(group, secretary)
    vote_in_group(local_member, poll, [0])
    with pytest.raises(PollError):
        vote_in_group(local_member, poll, [1])
    poll.refresh_from_db()
    assert poll.voters_count == 1
    assert [o.votes_count for o in poll.options.all()] == [1, 0]


def test_non_member_local_vote_refused(group, secretary, members, make_local_member):
    """A local account outside the group cannot vote; nothing is counted."""
    poll = make_poll(group, secretary)
    with pytest.raises(PollError):
        vote_in_group(make_local_member("carol"), poll, [0])
    assert not PollVote.objects.exists()
    poll.refresh_from_db()
    assert poll.voters_count == 0


def test_remote_member_vote_counted_duplicate_rejected(group, secretary, members, bob):
    """A remote member's vote counts once; a second vote from their node is rejected."""
    poll = make_poll(group, secretary)
    assert remote_vote(poll, bob, "Wang").state == InboxItemState.PROCESSED
    second = remote_vote(poll, bob, "Li")
    assert second.state == InboxItemState.REJECTED
    poll.refresh_from_db()
    assert poll.voters_count == 1
    assert [o.votes_count for o in poll.options.all()] == [0, 1]


def test_remote_non_member_vote_rejected(group, secretary, members, mallory):
    """A non-member's vote arriving at the group's inbox is rejected and never counted."""
    poll = make_poll(group, secretary)
    item = remote_vote(poll, mallory, "Li")
    assert item.state == InboxItemState.REJECTED and "members" in item.error
    assert not PollVote.objects.exists()


def test_gotosocial_bundled_vote_from_member(group, secretary, members, bob):
    """GoToSocial's single Create with a list of notes counts for a member in a multiple-choice poll."""
    poll = make_poll(group, secretary, multiple=True)
    assert remote_vote(poll, bob, "Li", "Wang").state == InboxItemState.PROCESSED
    poll.refresh_from_db()
    assert poll.voters_count == 1 and [o.votes_count for o in poll.options.all()] == [1, 1]


def test_secret_ballot_shows_totals_only(group, secretary, members, local_member, bob):
    """In a secret ballot officers see who voted, never what; AS2 and the API carry totals only."""
    poll = make_poll(group, secretary, secret=True)
    vote_in_group(local_member, poll, [1])
    remote_vote(poll, bob, "Li")
    poll.refresh_from_db()
    data = results(poll, secretary)
    assert data["voter_accounts"] == sorted([local_member.handle, bob.handle])
    assert "ballots" not in data
    assert [o["votes_count"] for o in data["options"]] == [1, 1]
    wire = json.dumps(post_to_ap(poll.post))
    assert local_member.ap_id not in wire and bob.ap_id not in wire
    api = json.dumps(serializers.poll(poll, viewer=secretary))
    assert local_member.ap_id not in api and bob.ap_id not in api


def test_open_ballot_officers_see_choices(group, secretary, members, local_member):
    """Without secret ballot officers see each voter's choices; plain members only totals."""
    poll = make_poll(group, secretary)
    vote_in_group(local_member, poll, [1])
    poll.refresh_from_db()
    assert results(poll, secretary)["ballots"] == [{"account": local_member.handle, "choices": ["Wang"]}]
    assert "ballots" not in results(poll, local_member) and "voter_accounts" not in results(poll, local_member)


def test_results_refused_to_non_members(group, secretary, members, make_local_member):
    """Non-members cannot read a group poll's results."""
    poll = make_poll(group, secretary)
    with pytest.raises(PermissionDenied):
        results(poll, make_local_member("carol"))


def test_turnout_against_active_members(group, secretary, members, local_member, bob):
    """Turnout is voters over active members (secretary, alice, bob: 3)."""
    poll = make_poll(group, secretary)
    vote_in_group(local_member, poll, [0])
    remote_vote(poll, bob, "Wang")
    assert turnout(poll) == {"voters": 2, "members": 3, "turnout": round(2 / 3, 4)}


def test_closing_federates_update_question(
    group, secretary, members, local_member, bob, django_capture_on_commit_callbacks
):
    """Closing the poll sends Update{Question} with the final totals from the group to members' nodes."""
    poll = make_poll(group, secretary)
    vote_in_group(local_member, poll, [0])
    OutboxActivity.objects.filter(type="Update").delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert close_poll(poll)
    update = OutboxActivity.objects.get(type="Update", actor=group.actor)
    assert update.body["object"]["type"] == "Question" and update.body["object"]["closed"]
    assert [o["replies"]["totalItems"] for o in update.body["object"]["oneOf"]] == [1, 0]
    assert Delivery.objects.filter(activity=update, inbox_url=bob.delivery_inbox).exists()


def test_api_poll_results_for_members(group, secretary, members, local_member, make_local_member, api_for):
    """GET /api/v1/groups/:id/polls/:poll_id gives members totals and turnout; 403 for others."""
    poll = make_poll(group, secretary)
    vote_in_group(local_member, poll, [0])
    url = f"/api/v1/groups/{group.pk}/polls/{poll.pk}"
    body = api_for(local_member).get(url).json()
    assert body["voters"] == 1 and body["members"] == 3 and body["turnout"] == round(1 / 3, 4)
    assert "ballots" not in body
    assert api_for(make_local_member("carol")).get(url).status_code == 403

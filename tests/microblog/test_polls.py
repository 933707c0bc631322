"""Polls: creation rules, local and federated votes, closing, and Question conversions."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from federation.inbound import Reject, process_item
from federation.models import Delivery, Follow, FollowState, InboxItem, InboxItemState, OutboxActivity
from microblog import polls
from microblog.models import Notification, Poll, PollOption, PollVote, Post
from microblog.polls import PollError
from microblog.services import create_post

pytestmark = pytest.mark.django_db


def make_poll(author, options=("yes", "no", "maybe"), *, multiple=False, expires_in=3600, visibility="public"):
    post = create_post(
        author,
        text="Which one?",
        visibility=visibility,
        poll={"options": list(options), "expires_in": expires_in, "multiple": multiple},
    )
    return Poll.objects.get(post=post)


def counts(poll):
    return [o.votes_count for o in PollOption.objects.filter(poll=poll).order_by("position")]


def vote_activity(voter, question_id, title, n=1, *, to=None):
    """A vote as Mastodon sends it (the shape of fixtures/mastodon/create_vote.json)."""
    note_id = f"{voter.ap_id}#votes/{n}"
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": voter.ap_id,
        "to": to or question_id,
        "object": {
            "id": note_id,
            "type": "Note",
            "name": title,
            "attributedTo": voter.ap_id,
            "inReplyTo": question_id,
            "to": to or question_id,
        },
    }


def remote_question(author, ap_id, *, object_type="Question"):
    return Post.objects.create(ap_id=ap_id, author=author, local=False, object_type=object_type, visibility="public")


# ---------------------------------------------------------------- creation


def test_create_poll_stores_options_and_expiry_when_valid(local_member):
    """A post created with a poll becomes a Question with its options in order and an expiry."""
    poll = make_poll(local_member, multiple=True)
    assert poll.post.object_type == "Question"
    assert [o.title for o in poll.options.all()] == ["yes", "no", "maybe"]
    assert poll.multiple is True
    assert timedelta(minutes=59) < poll.expires_at - timezone.now() <= timedelta(hours=1)


@pytest.mark.parametrize(
    ("options", "expires_in"),
    [
        (["only"], 3600),
        ([f"o{i}" for i in range(11)], 3600),
        (["a", "a"], 3600),
        (["a", " "], 3600),
        (["a", "x" * 51], 3600),
        (["a", "b"], 60),
        (["a", "b"], 31 * 24 * 3600),
    ],
)
def test_create_poll_refused_when_invalid(local_member, options, expires_in):
    """Too few/many, duplicate, empty or long options and out-of-range durations store nothing."""
    post = create_post(local_member, text="plain")
    with pytest.raises(PollError):
        polls.create_poll(post, options=options, expires_in=expires_in)
    assert not Poll.objects.exists()
    assert not PollOption.objects.exists()


# ---------------------------------------------------------------- local votes


def test_vote_counts_once_and_refuses_second_vote(local_member, make_local_member):
    """A member's vote moves the counters once; voting again is refused and changes nothing."""
    poll = make_poll(local_member)
    bob = make_local_member("bob")
    polls.vote(bob, poll, [1])
    assert counts(poll) == [0, 1, 0]
    with pytest.raises(PollError):
        polls.vote(bob, poll, [0])
    poll.refresh_from_db()
    assert counts(poll) == [0, 1, 0]
    assert poll.voters_count == 1
    assert PollVote.objects.filter(voter=bob).count() == 1


@pytest.mark.parametrize("choices", [[7], [-1], [], [0, 1], ["x"]])
def test_vote_refused_for_bad_choices_on_single_choice_poll(local_member, make_local_member, choices):
    """Unknown options, no option, or two options in a single-choice poll store nothing."""
    poll = make_poll(local_member)
    bob = make_local_member("bob")
    with pytest.raises(PollError):
        polls.vote(bob, poll, choices)
    assert counts(poll) == [0, 0, 0]
    assert not PollVote.objects.exists()
    assert Poll.objects.get(pk=poll.pk).voters_count == 0


def test_vote_refused_on_own_poll(local_member):
    """The author cannot vote in their own poll."""
    poll = make_poll(local_member)
    with pytest.raises(PollError):
        polls.vote(local_member, poll, [0])
    assert counts(poll) == [0, 0, 0]
    assert not PollVote.objects.exists()


def test_vote_refused_after_expiry(local_member, make_local_member):
    """A poll past its end time takes no more votes."""
    poll = make_poll(local_member)
    Poll.objects.filter(pk=poll.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(PollError):
        polls.vote(make_local_member("bob"), poll, [0])
    assert counts(poll) == [0, 0, 0]
    assert not PollVote.objects.exists()


def test_vote_multiple_choice_counts_each_option_and_one_voter(local_member, make_local_member):
    """In a multiple-choice poll several options count once each, and the voter once."""
    poll = make_poll(local_member, multiple=True)
    polls.vote(make_local_member("bob"), poll, [0, 2])
    polls.vote(make_local_member("carl"), poll, [2])
    poll.refresh_from_db()
    assert counts(poll) == [1, 0, 2]
    assert poll.voters_count == 2


# ---------------------------------------------------------------- federated votes, this node's poll


def test_inbound_vote_counts_and_sends_update_question(
    local_member, make_remote_actor, django_capture_on_commit_callbacks, hold_deliveries
):
    """A remote vote is counted and an Update{Question} with the new totals goes to the
    author's followers and the voter."""
    poll = make_poll(local_member)
    follower, _ = make_remote_actor("fan", domain="fans.example")
    Follow.objects.create(follower=follower, target=local_member, state=FollowState.ACCEPTED)
    voter, _ = make_remote_actor("carol", domain="voters.example")
    with django_capture_on_commit_callbacks(execute=True):
        assert polls.maybe_handle_vote(vote_activity(voter, poll.post.ap_id, "maybe"), voter) is True
    poll.refresh_from_db()
    assert counts(poll) == [0, 0, 1]
    assert poll.voters_count == 1
    update = OutboxActivity.objects.get(type="Update")
    question = update.body["object"]
    assert question["type"] == "Question"
    assert question["id"] == poll.post.ap_id
    assert [o["replies"]["totalItems"] for o in question["oneOf"]] == [0, 0, 1]
    assert question["votersCount"] == 1
    inboxes = set(Delivery.objects.filter(activity=update).values_list("inbox_url", flat=True))
    assert inboxes == {follower.shared_inbox_url, voter.shared_inbox_url}
    assert hold_deliveries == [update.pk]  # queued for delivery once committed


def test_inbound_vote_fixture_shape_counted(local_member, make_remote_actor, fixture_path):
    """Mastodon's vote document (to as a single string) counts for the named option."""
    poll = make_poll(local_member, options=("suya..", "other"))
    voter, _ = make_remote_actor("rinpatch", domain="mastodon.sdf.org")
    activity = json.loads(fixture_path("mastodon/create_vote.json").read_text())
    activity["object"]["inReplyTo"] = poll.post.ap_id
    activity["to"] = activity["object"]["to"] = local_member.ap_id
    assert polls.maybe_handle_vote(activity, voter) is True
    assert counts(poll) == [1, 0]
    assert PollVote.objects.get().ap_id == "https://mastodon.sdf.org/users/rinpatch#votes/387"


@pytest.mark.parametrize("case", ["unknown option", "second vote", "expired", "own poll", "foreign note"])
def test_inbound_vote_refused_and_nothing_stored(local_member, make_remote_actor, case):
    """Refused remote votes raise Reject and leave counters and votes as they were."""
    poll = make_poll(local_member)
    voter, _ = make_remote_actor("carol", domain="voters.example")
    if case == "second vote":
        polls.maybe_handle_vote(vote_activity(voter, poll.post.ap_id, "yes", 1), voter)
    before = (counts(poll), PollVote.objects.count(), Poll.objects.get(pk=poll.pk).voters_count)
    activity = vote_activity(voter, poll.post.ap_id, "no", 2)
    sender = voter
    if case == "unknown option":
        activity["object"]["name"] = "perhaps"
    elif case == "expired":
        Poll.objects.filter(pk=poll.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "own poll":
        sender = local_member
        activity = vote_activity(local_member, poll.post.ap_id, "no", 2)
    elif case == "foreign note":
        other, _ = make_remote_actor("mallory", domain="voters.example")
        activity["object"]["attributedTo"] = other.ap_id
    with pytest.raises(Reject):
        polls.maybe_handle_vote(activity, sender)
    assert (counts(poll), PollVote.objects.count(), Poll.objects.get(pk=poll.pk).voters_count) == before


def test_inbound_votes_on_multiple_choice_poll_each_option_once(local_member, make_remote_actor):
    """Mastodon sends one Create per chosen option: each counts, the voter once; a repeat is refused."""
    poll = make_poll(local_member, multiple=True)
    voter, _ = make_remote_actor("carol", domain="voters.example")
    polls.maybe_handle_vote(vote_activity(voter, poll.post.ap_id, "yes", 1), voter)
    polls.maybe_handle_vote(vote_activity(voter, poll.post.ap_id, "maybe", 2), voter)
    with pytest.raises(Reject):
        polls.maybe_handle_vote(vote_activity(voter, poll.post.ap_id, "yes", 3), voter)
    poll.refresh_from_db()
    assert counts(poll) == [1, 0, 1]
    assert poll.voters_count == 1


def test_inbound_vote_list_from_gotosocial_counts_all_notes(local_member, make_remote_actor):
    """GoToSocial's single Create with a list of vote notes counts every choice."""
    poll = make_poll(local_member, multiple=True)
    voter, _ = make_remote_actor("gts", domain="gts.example")
    activity = vote_activity(voter, poll.post.ap_id, "yes", 1)
    second = copy.deepcopy(activity["object"])
    second.update({"id": f"{voter.ap_id}#votes/2", "name": "no"})
    activity["object"] = [activity["object"], second]
    assert polls.maybe_handle_vote(activity, voter) is True
    poll.refresh_from_db()
    assert counts(poll) == [1, 1, 0]
    assert poll.voters_count == 1


def test_vote_on_remote_poll_is_ignored_by_handler(make_remote_actor):
    """A vote-shaped note about a poll this node does not host is consumed and not counted."""
    author, _ = make_remote_actor("dave", domain="polls.example")
    post = remote_question(author, "https://polls.example/q/1")
    Poll.objects.create(post=post)
    PollOption.objects.create(poll=post.poll, position=0, title="yes")
    voter, _ = make_remote_actor("carol", domain="voters.example")
    assert polls.maybe_handle_vote(vote_activity(voter, post.ap_id, "yes"), voter) is True
    assert not PollVote.objects.exists()
    assert PollOption.objects.get().votes_count == 0


def test_ordinary_reply_is_not_taken_for_a_vote(local_member, make_remote_actor):
    """A reply with content is left to the normal Create{Note} handler."""
    poll = make_poll(local_member)
    voter, _ = make_remote_actor("carol", domain="voters.example")
    activity = vote_activity(voter, poll.post.ap_id, "yes")
    activity["object"]["content"] = "<p>I vote yes!</p>"
    assert polls.maybe_handle_vote(activity, voter) is False
    assert not PollVote.objects.exists()


# ---------------------------------------------------------------- local member, remote poll


def test_vote_on_remote_poll_sends_one_note_per_choice(local_member, make_remote_actor):
    """A member's vote on a remote poll goes to the author's inbox as Create{Note} per choice."""
    author, _ = make_remote_actor("dave", domain="polls.example")
    post = remote_question(author, "https://polls.example/q/1")
    polls.ap_to_poll(post, {"anyOf": [{"name": "tea"}, {"name": "coffee"}, {"name": "water"}]})
    poll = polls.vote(local_member, post.poll, [0, 2])
    assert counts(poll) == [1, 0, 1]
    creates = list(OutboxActivity.objects.filter(type="Create").order_by("pk"))
    assert [c.body["object"]["name"] for c in creates] == ["tea", "water"]
    for create in creates:
        note = create.body["object"]
        assert note["inReplyTo"] == post.ap_id
        assert note["attributedTo"] == local_member.ap_id
        assert note["to"] == [author.ap_id] and "content" not in note
        assert list(create.deliveries.values_list("inbox_url", flat=True)) == [author.inbox_url]


# ---------------------------------------------------------------- closing


def test_close_expired_polls_notifies_and_sends_final_update(
    local_member, make_local_member, make_remote_actor, django_capture_on_commit_callbacks, hold_deliveries
):
    """An expired poll is closed once: voters and author get a ``poll`` notification and the
    final Update{Question} carries ``closed``."""
    poll = make_poll(local_member)
    bob = make_local_member("bob")
    polls.vote(bob, poll, [0])
    voter, _ = make_remote_actor("carol", domain="voters.example")
    polls.maybe_handle_vote(vote_activity(voter, poll.post.ap_id, "no"), voter)
    OutboxActivity.objects.all().delete()
    Poll.objects.filter(pk=poll.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert polls.close_expired_polls() == 1
    assert polls.close_expired_polls() == 0
    poll.refresh_from_db()
    assert poll.closed_at is not None
    assert set(Notification.objects.filter(type="poll").values_list("recipient_id", flat=True)) == {
        bob.pk,
        local_member.pk,
    }
    update = OutboxActivity.objects.get(type="Update")
    assert update.body["object"]["closed"]
    assert [o["replies"]["totalItems"] for o in update.body["object"]["oneOf"]] == [1, 1, 0]


# ---------------------------------------------------------------- conversions


def test_poll_to_ap_fields_single_and_multiple(local_member):
    """oneOf for single choice, anyOf for multiple, with endTime and per-option totals."""
    single = polls.poll_to_ap_fields(make_poll(local_member))
    assert [o["name"] for o in single["oneOf"]] == ["yes", "no", "maybe"]
    assert single["endTime"].endswith("Z") and "closed" not in single and single["votersCount"] == 0
    multiple = polls.poll_to_ap_fields(make_poll(local_member, multiple=True))
    assert "anyOf" in multiple and "oneOf" not in multiple
    assert multiple["anyOf"][0] == {"type": "Note", "name": "yes", "replies": {"type": "Collection", "totalItems": 0}}


def test_ap_to_poll_mastodon_question_fixture(make_remote_actor, fixture_path):
    """Mastodon's Create{Question}: single choice, four options with totals, end time."""
    author, _ = make_remote_actor("rinpatch", domain="mastodon.sdf.org")
    doc = json.loads(fixture_path("mastodon/question.json").read_text())["object"]
    poll = polls.ap_to_poll(remote_question(author, doc["id"]), doc)
    assert poll.multiple is False
    assert [o.title for o in poll.options.all()] == [
        "Dunno",
        "Everyone knows that!",
        "25 char limit is dumb",
        "I can't even fit a funny",
    ]
    assert counts(poll) == [0, 1, 0, 1]
    assert poll.voters_count == 2
    assert poll.expires_at.isoformat() == "2019-05-11T09:03:36+00:00"


def test_ap_to_poll_anyof_fixture_uses_voters_count(make_remote_actor, fixture_path):
    """Mastodon's documented anyOf Question: multiple choice, votersCount 7."""
    author, _ = make_remote_actor("alice", domain="mastodon.example")
    doc = json.loads(fixture_path("mastodon/question_anyof.json").read_text())
    poll = polls.ap_to_poll(remote_question(author, doc["id"]), doc)
    assert poll.multiple is True
    assert counts(poll) == [3, 7, 6]
    assert poll.voters_count == 7


def test_ap_to_poll_pleroma_closed_fixture(make_remote_actor, fixture_path):
    """Pleroma's closed poll (``closed`` without a zone) is stored as closed."""
    author, _ = make_remote_actor("rin", domain="patch.cx")
    doc = json.loads(fixture_path("pleroma/question_closed.json").read_text())
    poll = polls.ap_to_poll(remote_question(author, doc["id"]), doc)
    assert poll.closed_at.isoformat().startswith("2019-09-19T00:32:36")
    assert poll.expired
    assert counts(poll) == [8, 3]
    assert poll.voters_count == 11


def test_ap_to_poll_smithereen_fixture(make_remote_actor, fixture_path):
    """Smithereen's Question (option ids, votersCount, no endTime) is parsed."""
    author, _ = make_remote_actor("1", domain="friends.grishka.me")
    doc = json.loads(fixture_path("smithereen/question.json").read_text())
    poll = polls.ap_to_poll(remote_question(author, doc["id"]), doc)
    assert [o.title for o in poll.options.all()] == ["тестовый ответ 1", "тестовый ответ 2", "тестовый ответ 3"]
    assert counts(poll) == [4, 4, 6]
    assert poll.voters_count == 14
    assert poll.expires_at is None and not poll.expired


def test_ap_to_poll_refresh_updates_counts_and_resets_on_new_options(local_member, make_remote_actor):
    """An Update{Question} refreshes totals; changed options replace the old ones and their votes."""
    author, _ = make_remote_actor("dave", domain="polls.example")
    post = remote_question(author, "https://polls.example/q/1")
    doc = {"oneOf": [{"name": "a", "replies": {"totalItems": 1}}, {"name": "b", "replies": {"totalItems": 0}}]}
    polls.ap_to_poll(post, doc)
    polls.vote(local_member, post.poll, [1])
    doc["oneOf"][1]["replies"]["totalItems"] = 5
    poll = polls.ap_to_poll(post, doc)
    assert counts(poll) == [1, 5]
    assert PollVote.objects.count() == 1
    poll = polls.ap_to_poll(post, {"oneOf": [{"name": "c"}, {"name": "d"}]})
    assert [o.title for o in poll.options.all()] == ["c", "d"]
    assert not PollVote.objects.exists()


def test_ap_to_poll_without_options_returns_none(make_remote_actor):
    """A Question without usable options makes no poll."""
    author, _ = make_remote_actor("dave", domain="polls.example")
    post = remote_question(author, "https://polls.example/q/2")
    assert polls.ap_to_poll(post, {"type": "Question", "oneOf": [{"type": "Note"}]}) is None
    assert not Poll.objects.exists()


def test_inbound_vote_through_inbox_processing_is_counted_not_stored_as_post(local_member, make_remote_actor):
    """A vote arriving in the inbox reaches the poll through the Create{Note} handler and is
    not stored as a reply."""
    poll = make_poll(local_member)
    voter, _ = make_remote_actor("carol", domain="voters.example")
    activity = vote_activity(voter, poll.post.ap_id, "no")
    item = InboxItem.objects.create(
        activity_id=activity["id"],
        activity_type="Create",
        actor_id=voter.ap_id,
        domain=voter.domain,
        body=json.dumps(activity),
    )
    process_item(item)
    item.refresh_from_db()
    assert item.state == InboxItemState.PROCESSED
    assert counts(poll) == [0, 1, 0]
    assert not Post.objects.filter(author=voter).exists()

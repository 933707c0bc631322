"""Client API polls: show and vote, with Mastodon's refusals (double vote, expired, own poll)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from microblog.models import Poll, PollVote

pytestmark = pytest.mark.django_db

# The Poll entity (docs.joinmastodon.org/entities/Poll) as seen by a signed-in viewer.
POLL_KEYS = {
    "id",
    "expires_at",
    "expired",
    "multiple",
    "votes_count",
    "voters_count",
    "options",
    "emojis",
    "voted",
    "own_votes",
}


def make_poll(client: Client, *, multiple: bool = False, visibility: str = "public") -> dict:
    data = {
        "status": "Which?",
        "poll[options][]": ["red", "green", "blue"],
        "poll[expires_in]": "3600",
        "poll[multiple]": "true" if multiple else "false",
        "visibility": visibility,
    }
    response = client.post("/api/v1/statuses", data)
    assert response.status_code == 200, response.content
    return response.json()["poll"]


def test_show_poll_anonymously_and_signed_in(alice, bob, api_as):
    """A public status's poll is readable anonymously; signed-in viewers also get ``voted``."""
    poll = make_poll(api_as(alice))
    anonymous = Client().get(f"/api/v1/polls/{poll['id']}").json()
    assert anonymous["id"] == poll["id"] and "voted" not in anonymous
    seen = api_as(bob).get(f"/api/v1/polls/{poll['id']}").json()
    assert POLL_KEYS <= set(seen) and seen["voted"] is False and seen["own_votes"] == []


def test_vote_counts_and_answers_poll(alice, bob, api_as):
    """A vote is counted and the answer shows it as the caller's own."""
    poll = make_poll(api_as(alice))
    response = api_as(bob).post(f"/api/v1/polls/{poll['id']}/votes", {"choices[]": ["1"]})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["voted"] is True and data["own_votes"] == [1]
    assert [o["votes_count"] for o in data["options"]] == [0, 1, 0] and data["voters_count"] == 1
    assert PollVote.objects.filter(voter=bob).count() == 1


def test_vote_with_json_choices_on_multiple_choice_poll(alice, bob, api_as):
    """JSON ``choices`` with several options work on a multiple-choice poll."""
    poll = make_poll(api_as(alice), multiple=True)
    response = api_as(bob).post(
        f"/api/v1/polls/{poll['id']}/votes", '{"choices": [0, 2]}', content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["own_votes"] == [0, 2]


def test_double_vote_is_422(alice, bob, api_as):
    """Voting twice: 422 with Mastodon's message and the first vote alone stays."""
    poll = make_poll(api_as(alice))
    client = api_as(bob)
    assert client.post(f"/api/v1/polls/{poll['id']}/votes", {"choices[]": ["0"]}).status_code == 200
    response = client.post(f"/api/v1/polls/{poll['id']}/votes", {"choices[]": ["2"]})
    assert response.status_code == 422
    assert response.json() == {"error": "Validation failed: You have already voted on this poll"}
    assert list(PollVote.objects.filter(voter=bob).values_list("option__position", flat=True)) == [0]


def test_vote_on_expired_poll_is_422(alice, bob, api_as):
    """Voting after the end: 422 ``The poll has already ended`` and nothing stored."""
    poll = make_poll(api_as(alice))
    Poll.objects.filter(pk=int(poll["id"])).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = api_as(bob).post(f"/api/v1/polls/{poll['id']}/votes", {"choices[]": ["0"]})
    assert response.status_code == 422
    assert response.json() == {"error": "Validation failed: The poll has already ended"}
    assert not PollVote.objects.exists()


def test_bad_choices_are_422(alice, bob, api_as):
    """Several choices on a single-choice poll, an unknown option or none at all: 422, nothing stored."""
    poll = make_poll(api_as(alice))
    client = api_as(bob)
    for choices in (["0", "1"], ["7"], [], ["x"]):
        response = client.post(f"/api/v1/polls/{poll['id']}/votes", {"choices[]": choices})
        assert response.status_code == 422 and response.json()["error"].startswith("Validation failed: ")
    assert not PollVote.objects.exists()


def test_vote_on_invisible_poll_is_404(alice, carol, api_as):
    """The poll of a followers-only status is 404 to a non-follower, to read or to vote."""
    poll = make_poll(api_as(alice), visibility="private")
    assert api_as(carol).get(f"/api/v1/polls/{poll['id']}").status_code == 404
    response = api_as(carol).post(f"/api/v1/polls/{poll['id']}/votes", {"choices[]": ["0"]})
    assert response.status_code == 404 and not PollVote.objects.exists()


def test_vote_needs_token_and_write_scope(alice, bob, api_as):
    """Voting without a token is 401, with a read-only token 403; nothing stored."""
    poll = make_poll(api_as(alice))
    assert Client().post(f"/api/v1/polls/{poll['id']}/votes", {"choices[]": ["0"]}).status_code == 401
    assert api_as(bob, "read").post(f"/api/v1/polls/{poll['id']}/votes", {"choices[]": ["0"]}).status_code == 403
    assert not PollVote.objects.exists()

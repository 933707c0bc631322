"""``POST /api/v1/groups/:id/statuses`` with ``poll[...]``: officers open group polls (a
``Question`` by the group actor); other members are refused and nothing is stored."""

from __future__ import annotations

import pytest

from microblog.models import Poll, Post, Visibility

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
POLL = {"status": "Which day?", "poll": {"options": ["Monday", "Friday"], "expires_in": 3600}}


def test_officer_opens_group_poll_through_api(group, secretary, api_for):
    """The secretary's poll is authored by the group, followers-only in a members-only group."""
    response = api_for(secretary).post(f"/api/v1/groups/{group.pk}/statuses", POLL)
    assert response.status_code == 200, response.content
    body = response.json()
    post = Post.objects.get(pk=int(body["id"]))
    assert post.author_id == group.actor_id and post.visibility == Visibility.PRIVATE
    assert [o["title"] for o in body["poll"]["options"]] == ["Monday", "Friday"]
    assert Poll.objects.get(post=post).secret is False


def test_member_cannot_open_group_poll(group, local_member, make_member, api_for):
    """A plain member gets 403 and no poll is stored."""
    make_member(group, local_member)
    response = api_for(local_member).post(f"/api/v1/groups/{group.pk}/statuses", POLL)
    assert response.status_code == 403
    assert not Poll.objects.exists() and not Post.objects.filter(author=group.actor).exists()


def test_group_poll_needs_numeric_expiry(group, secretary, api_for):
    """A poll without a number of seconds to run is refused with 422, nothing stored."""
    bad = {"status": "x", "poll": {"options": ["a", "b"], "expires_in": "soon"}}
    response = api_for(secretary).post(f"/api/v1/groups/{group.pk}/statuses", bad)
    assert response.status_code == 422
    assert not Poll.objects.exists()

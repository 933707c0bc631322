"""Client API: polls (docs.joinmastodon.org/methods/polls).

``GET /api/v1/polls/:id`` (public when the status is visible to the caller) and
``POST /api/v1/polls/:id/votes`` (``choices[]``: option indexes from 0). Votes go through
``microblog.polls.vote``; its refusals answer 422 with Mastodon's ``Validation failed: ...``
wording where Mastodon has one.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from microblog import polls, services
from microblog.api import errors, serializers
from microblog.api.auth import api_view, param_list, param_str
from microblog.api.statuses import optional_scope, record_id
from microblog.models import Poll, Post

# Our refusal -> Mastodon's text (VoteValidator, config/locales/en.yml).
MASTODON_WORDING = {
    "the poll has ended": "The poll has already ended",
    "you have already voted on this poll": "You have already voted on this poll",
}


def _visible_poll(request: HttpRequest, poll_id: str) -> Poll:
    """The poll if its status is visible to the caller, else 404 ``Record not found``."""
    poll = Poll.objects.select_related("post", "post__author").filter(pk=record_id(poll_id)).first()
    if poll is None:
        raise errors.NotFound()
    try:
        services.get_post_for(request.actor, poll.post_id)  # type: ignore[attr-defined]
    except Post.DoesNotExist:
        raise errors.NotFound() from None
    return poll


@api_view(None)
def poll_detail(request: HttpRequest, poll_id: str) -> Any:
    """``GET /api/v1/polls/:id``: the Poll entity (``voted``/``own_votes`` for a signed-in caller)."""
    optional_scope(request, "read:statuses")
    return serializers.poll(_visible_poll(request, poll_id), viewer=request.actor)  # type: ignore[attr-defined]


@api_view("write:statuses", methods=["POST"])
def vote(request: HttpRequest, poll_id: str) -> Any:
    """``POST /api/v1/polls/:id/votes``: vote once (all choices together); answers the poll."""
    poll = _visible_poll(request, poll_id)
    choices = []
    for raw in param_list(request.params.get("choices")):  # type: ignore[attr-defined]
        text = param_str(raw).strip()
        if not text.lstrip("-").isdigit():
            raise errors.ValidationFailed("Choices must be option numbers")
        choices.append(int(text))
    try:
        polls.vote(request.actor, poll, choices)  # type: ignore[attr-defined]
    except polls.PollError as exc:
        text = str(exc)
        raise errors.ValidationFailed(MASTODON_WORDING.get(text, text[:1].upper() + text[1:])) from None
    fresh = Poll.objects.select_related("post").get(pk=poll.pk)
    return serializers.poll(fresh, viewer=request.actor)  # type: ignore[attr-defined]

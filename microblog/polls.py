"""Polls: creation, votes (local and federated), closing, and their AS2 fields.

Wire format (Mastodon's, followed by Pleroma, Misskey, GoToSocial, Smithereen):
- a poll is a ``Question`` with ``oneOf`` (single choice) or ``anyOf`` (multiple choice), each
  option a ``Note`` whose ``name`` is the title and ``replies.totalItems`` its count, plus
  ``endTime``, ``closed`` (once over) and ``votersCount``;
- a vote is ``Create{Note{name=option title, inReplyTo=question id, attributedTo=voter}}``
  sent to the question author only, one activity per chosen option (GoToSocial sends one
  ``Create`` whose object is a list of such notes);
- the poll's node counts votes and sends ``Update{Question}`` with the new totals to the
  author's followers and to the voters (debounced, at most once per ``UPDATE_DEBOUNCE``).

Eligibility: one vote per account per poll (single choice: any second vote is refused;
multiple choice: each option at most once), not after expiry, never by the poll's author,
only known options. Counters move with ``F()`` updates under a lock on the poll row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from federation.follows import new_activity_id
from federation.inbound import Reject, same_origin
from federation.models import Actor
from federation.outbox import inboxes_for_followers, publish
from federation.timescale import scaled
from federation.vocab import id_of
from microblog.models import Notification, NotificationType, Poll, PollOption, PollVote, Post
from microblog.polls_ap import (
    ap_to_poll,
    max_option_chars,
    max_options,
    poll_to_ap_fields,
    question_update_to_ap,
    vote_notes,
    vote_to_ap,
)

__all__ = [
    "PollError",
    "ap_to_poll",
    "close_expired_polls",
    "close_poll",
    "create_poll",
    "maybe_handle_vote",
    "poll_to_ap_fields",
    "question_update_to_ap",
    "vote",
    "vote_to_ap",
]

MIN_EXPIRES_IN = 5 * 60
MAX_EXPIRES_IN = 30 * 24 * 3600
UPDATE_DEBOUNCE = timedelta(seconds=5)


class PollError(ValueError):
    """A poll or a vote that is not allowed (bad options, expired, already voted, ...)."""


# ---------------------------------------------------------------- creation


def create_poll(post: Post, *, options: list[str], expires_in: int, multiple: bool = False) -> Poll:
    """Attach a poll to the local ``post`` (which becomes a ``Question``).

    Guarantees 2..``MICROBLOG_MAX_POLL_OPTIONS`` distinct non-empty options of at most
    ``MICROBLOG_MAX_POLL_OPTION_CHARS`` characters and an expiry between 5 minutes and 30 days;
    anything else raises :class:`PollError` and stores nothing. Run it in the post's transaction."""
    titles = [str(o).strip() for o in options]
    if len(titles) < 2:
        raise PollError("a poll needs at least 2 options")
    if len(titles) > max_options():
        raise PollError(f"a poll has at most {max_options()} options")
    if any(not t for t in titles):
        raise PollError("poll options cannot be empty")
    if any(len(t) > max_option_chars() for t in titles):
        raise PollError(f"poll options have at most {max_option_chars()} characters")
    if len(set(titles)) != len(titles):
        raise PollError("poll options must be different")
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError) as exc:
        raise PollError("expires_in must be a number of seconds") from exc
    if not MIN_EXPIRES_IN <= seconds <= MAX_EXPIRES_IN:
        raise PollError("a poll lasts between 5 minutes and 30 days")
    with transaction.atomic():
        poll = Poll.objects.create(
            post=post, multiple=bool(multiple), expires_at=timezone.now() + timedelta(seconds=seconds)
        )
        PollOption.objects.bulk_create([PollOption(poll=poll, position=i, title=t) for i, t in enumerate(titles)])
        if post.object_type != "Question":
            post.object_type = "Question"
            post.save(update_fields=["object_type"])
    return poll


# ---------------------------------------------------------------- votes


# Eligibility checks registered by higher layers (groups: only active members vote):
# ``fn(poll, voter) -> reason | None``; a reason refuses the vote (local: PollError, remote: Reject).
_vote_checks: list[Any] = []


def register_vote_check(fn: Any) -> Any:
    """Register ``fn(poll, voter) -> str | None``; a returned reason refuses the vote."""
    if fn not in _vote_checks:
        _vote_checks.append(fn)
    return fn


def _check_open(poll: Poll, voter: Actor) -> None:
    for check in list(_vote_checks):
        reason = check(poll, voter)
        if reason:
            raise PollError(reason)
    if poll.expired:
        raise PollError("the poll has ended")
    if poll.post.author_id == voter.pk:
        raise PollError("you cannot vote in your own poll")
    if poll.post.deleted_at is not None:
        raise PollError("the poll was deleted")


def _record(poll: Poll, voter: Actor, options: list[PollOption], *, ap_ids: Iterable[str] = ()) -> list[PollVote]:
    """Store the votes and move the counters; the caller holds the poll row lock."""
    ids = list(ap_ids) or [""] * len(options)
    first = not PollVote.objects.filter(poll=poll, voter=voter).exists()
    votes = [PollVote(poll=poll, option=o, voter=voter, ap_id=i) for o, i in zip(options, ids, strict=True)]
    PollVote.objects.bulk_create(votes)
    PollOption.objects.filter(pk__in=[o.pk for o in options]).update(votes_count=F("votes_count") + 1)
    if first:
        Poll.objects.filter(pk=poll.pk).update(voters_count=F("voters_count") + 1)
    return votes


def vote(actor: Actor, poll: Poll, choices: list[int]) -> Poll:
    """Local member ``actor`` votes ``choices`` (option positions) in ``poll``.

    Refused with :class:`PollError` (nothing stored): expired or closed poll, own poll, already
    voted (as in Mastodon's API, a member votes once, all choices together), no choice, unknown
    or repeated choice, several choices in a single-choice poll. On a local poll the totals are
    federated with a debounced ``Update{Question}``; on a remote poll one ``Create{Note}`` per
    choice goes to the author's inbox. Returns the refreshed poll."""
    if not actor.local:
        raise PollError("only local members vote through this node")
    try:
        positions = [int(c) for c in choices]
    except (TypeError, ValueError) as exc:
        raise PollError("choices must be option numbers") from exc
    if not positions:
        raise PollError("choose at least one option")
    if len(set(positions)) != len(positions):
        raise PollError("an option can be chosen once")
    with transaction.atomic():
        locked = Poll.objects.select_for_update().select_related("post", "post__author").get(pk=poll.pk)
        _check_open(locked, actor)
        if len(positions) > 1 and not locked.multiple:
            raise PollError("this poll allows one choice")
        if PollVote.objects.filter(poll=locked, voter=actor).exists():
            raise PollError("you have already voted on this poll")
        by_position = {o.position: o for o in locked.options.all()}
        if any(p not in by_position for p in positions):
            raise PollError("no such option")
        options = [by_position[p] for p in positions]
        if locked.post.local:
            _record(locked, actor, options)
            if not locked.secret:  # secret ballots publish totals only when closed
                schedule_poll_update(locked.pk)
        else:
            note_ids = [new_activity_id() for _ in options]
            _record(locked, actor, options, ap_ids=note_ids)
            author = locked.post.author
            for option, note_id in zip(options, note_ids, strict=True):
                publish(
                    vote_to_ap(actor, locked.post, option.title, note_id),
                    actor=actor,
                    inboxes=[author.inbox_url],
                    object_ap_id=locked.post.ap_id,
                )
    poll.refresh_from_db()
    return poll


def maybe_handle_vote(activity: dict[str, Any], actor: Actor) -> bool:
    """Process ``Create`` as a poll vote when its object is vote-shaped (a ``Note`` with a
    ``name``, an ``inReplyTo`` and no content, or a list of them); returns True when it was one
    (handled or ignored), False to let the normal ``Create{Note}`` handler run.

    Votes on polls that are not local are ignored. Refusals raise ``Reject`` and store nothing:
    an unknown option, a note attributed to someone else, the author's own poll, an expired
    poll, a second vote in a single-choice poll, or the same option twice."""
    notes = vote_notes(activity)
    if notes is None:
        return False
    by_poll: dict[str, list[dict[str, Any]]] = {}
    for note in notes:
        attributed = id_of(note.get("attributedTo"))
        if attributed is not None and attributed != actor.ap_id:
            raise Reject("a vote must be attributed to its sender")
        by_poll.setdefault(str(id_of(note.get("inReplyTo"))), []).append(note)
    for question_id, poll_notes in by_poll.items():
        post = Post.objects.filter(ap_id=question_id, local=True).first()
        poll = Poll.objects.filter(post=post).first() if post is not None else None
        if poll is None:
            continue  # a vote on someone else's poll (or not a poll): not ours to count
        _handle_remote_votes(poll, actor, poll_notes)
    return True


def _handle_remote_votes(poll: Poll, voter: Actor, notes: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        locked = Poll.objects.select_for_update().select_related("post").get(pk=poll.pk)
        try:
            _check_open(locked, voter)
        except PollError as exc:
            raise Reject(str(exc)) from exc
        by_title = {o.title: o for o in locked.options.all()}
        already = set(PollVote.objects.filter(poll=locked, voter=voter).values_list("option_id", flat=True))
        chosen: list[PollOption] = []
        ap_ids: list[str] = []
        for note in notes:
            option = by_title.get(str(note["name"]).strip())
            if option is None:
                raise Reject("vote for an unknown option")
            if option.pk in already or option in chosen:
                raise Reject("option already voted")
            note_id = id_of(note) or ""
            if note_id and not same_origin(note_id, voter):
                raise Reject("vote id is not on the voter's host")
            chosen.append(option)
            ap_ids.append(note_id)
        if not locked.multiple and (already or len(chosen) > 1):
            raise Reject("this poll allows one choice")
        _record(locked, voter, chosen, ap_ids=ap_ids)
        if not locked.secret:  # interim totals would reveal single votes by difference
            schedule_poll_update(locked.pk)


# ---------------------------------------------------------------- results and closing


def _flag(poll_id: int) -> str:
    return f"microblog:poll-update:{poll_id}"


def schedule_poll_update(poll_id: int) -> None:
    """After commit, queue one ``Update{Question}`` for the poll unless one is already queued
    (the task runs ``UPDATE_DEBOUNCE`` later, so a burst of votes sends one update)."""
    delay = scaled(UPDATE_DEBOUNCE).total_seconds()

    def queue() -> None:
        if cache.add(_flag(poll_id), 1, int(delay) + 5):
            federate_poll_update.apply_async((poll_id,), countdown=delay)

    transaction.on_commit(queue)


def _update_inboxes(poll: Poll) -> list[str]:
    post = poll.post
    voters = (
        Actor.objects.filter(poll_votes__poll=poll, local=False).distinct().values_list("shared_inbox_url", "inbox_url")
    )
    inboxes = inboxes_for_followers(post.author) if post.visibility in ("public", "unlisted", "private") else []
    inboxes += [shared or inbox for shared, inbox in voters if shared or inbox]
    return inboxes


@shared_task(name="microblog.federate_poll_update", ignore_result=True)
def federate_poll_update(poll_id: int) -> None:
    """Send ``Update{Question}`` with the current totals of a local poll to the author's
    followers and the remote voters. Harmless to run twice (a second update, same totals)."""
    cache.delete(_flag(poll_id))
    poll = Poll.objects.select_related("post", "post__author").filter(pk=poll_id).first()
    if poll is None or not poll.post.local or poll.post.deleted_at is not None:
        return
    with transaction.atomic():
        activity = question_update_to_ap(poll)
        publish(
            activity,
            actor=poll.post.author,
            inboxes=_update_inboxes(poll),
            object_ap_id=poll.post.ap_id,
            public=poll.post.visibility == "public",
        )


def close_poll(poll: Poll) -> bool:
    """Close ``poll`` now if it is still open: set ``closed_at``, notify local voters and a
    local author (``poll``), and for a local poll send the final ``Update{Question}``.
    Returns False when it was already closed (idempotent)."""
    from microblog.notifications import notify  # same layer; imported late to avoid a cycle

    now = timezone.now()
    with transaction.atomic():
        if not Poll.objects.filter(pk=poll.pk, closed_at__isnull=True).update(closed_at=now):
            return False
        poll.refresh_from_db()
        post = Post.objects.select_related("author").get(pk=poll.post_id)
        voters = Actor.objects.filter(poll_votes__poll=poll, local=True).distinct()
        for voter in voters:
            notify(voter, "poll", post.author, post)
        if post.author.local:
            # ``notify`` never notifies oneself, but Mastodon tells authors their poll ended.
            Notification.objects.get_or_create(
                recipient=post.author, type=NotificationType.POLL, from_actor=post.author, post=post
            )
        if post.local and post.deleted_at is None:
            transaction.on_commit(lambda: federate_poll_update.delay(poll.pk))
    return True


def close_expired_polls() -> int:
    """Close every poll whose end time has passed (local and remote copies); returns how many."""
    closed = 0
    due = Poll.objects.filter(closed_at__isnull=True, expires_at__lte=timezone.now()).order_by("pk")
    for poll in due.iterator():
        if close_poll(poll):
            closed += 1
    return closed


@shared_task(name="microblog.close_polls", ignore_result=True)
def close_polls_task() -> int:
    """Beat job (every minute): :func:`close_expired_polls`."""
    return close_expired_polls()

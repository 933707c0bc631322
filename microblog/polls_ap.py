"""AS2 side of polls: the ``Question`` fields of a poll, a remote ``Question`` into a poll,
vote notes out and in, and the ``Update{Question}`` carrying new totals.

Shapes follow Mastodon (also spoken by Pleroma, Misskey, GoToSocial, Smithereen); see
``microblog.polls`` for the rules. ``ap_to_poll`` writes (it refreshes the stored poll)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from federation.follows import new_activity_id
from federation.models import Actor
from federation.vocab import AS_CONTEXT, as_list, id_of, type_of
from microblog.models import Poll, PollOption, Post

MAX_OPTION_CHARS = 200  # PollOption.title; Mastodon's own limit is 50 (see settings)
# Votes are Notes; Pleroma/Akkoma store them as ``Answer`` and a few peers send that type as is.
VOTE_TYPES = frozenset({"Note", "Answer"})


def max_options() -> int:
    return int(getattr(settings, "MICROBLOG_MAX_POLL_OPTIONS", 10))


def max_option_chars() -> int:
    return min(MAX_OPTION_CHARS, int(getattr(settings, "MICROBLOG_MAX_POLL_OPTION_CHARS", 50)))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- conversions


def poll_to_ap_fields(poll: Poll) -> dict[str, Any]:
    """The ``Question`` fields of ``poll``: ``oneOf``/``anyOf`` with per-option
    ``replies.totalItems``, ``endTime``, ``votersCount`` and ``closed`` once it is over
    (Mastodon sends ``closed`` = the expiry time)."""
    options = [
        {"type": "Note", "name": o.title, "replies": {"type": "Collection", "totalItems": o.votes_count}}
        for o in poll.options.all()
    ]
    fields: dict[str, Any] = {"anyOf" if poll.multiple else "oneOf": options, "votersCount": poll.voters_count}
    if poll.expires_at is not None:
        fields["endTime"] = _iso(poll.expires_at)
    if poll.expired:
        fields["closed"] = _iso(poll.closed_at or poll.expires_at or timezone.now())
    return fields


def _parse_time(value: Any) -> datetime | None:
    """An AS2 date; Pleroma writes ``closed`` without a zone (UTC); ``closed: true`` has no time."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        return 0


def _remote_options(data: dict[str, Any]) -> tuple[bool, list[tuple[str, int]]] | None:
    """(multiple, [(title, votes)]) of a Question, or None when it has no usable options."""
    for key, multiple in (("oneOf", False), ("anyOf", True)):
        raw = data.get(key)
        if raw is None:
            continue
        options: list[tuple[str, int]] = []
        for item in as_list(raw):
            if not isinstance(item, dict):
                continue
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                continue
            replies = item.get("replies")
            total = replies.get("totalItems") if isinstance(replies, dict) else 0
            options.append((name.strip()[:MAX_OPTION_CHARS], _count(total)))
        if options:
            return multiple, options[: max(max_options(), 20)]
    return None


def ap_to_poll(post: Post, data: dict[str, Any]) -> Poll | None:
    """Create or refresh the poll of the remote ``post`` from its ``Question`` document.

    Returns None when ``data`` carries no options. Totals come from ``replies.totalItems``;
    ``votersCount`` when given, else the sum (single choice) or the largest option count
    (multiple choice: a lower bound). When the options changed (the author edited the poll) the
    old options and votes are replaced, as Mastodon does. A local post's poll is never changed
    by remote data."""
    if post.local:
        return Poll.objects.filter(post=post).first()
    parsed = _remote_options(data)
    if parsed is None:
        return None
    multiple, options = parsed
    counts = [c for _, c in options]
    voters = data.get("votersCount")
    voters_count = _count(voters) if voters is not None else (max(counts) if multiple else sum(counts))
    end_time = _parse_time(data.get("endTime"))
    closed_raw = data.get("closed")
    closed_at = _parse_time(closed_raw)
    if closed_at is None and closed_raw is True:  # some servers send a boolean
        closed_at = end_time or timezone.now()
    with transaction.atomic():
        poll = Poll.objects.select_for_update().filter(post=post).first()
        if poll is None:
            poll = Poll.objects.create(
                post=post, multiple=multiple, expires_at=end_time, closed_at=closed_at, voters_count=voters_count
            )
        else:
            poll.multiple, poll.expires_at, poll.voters_count = multiple, end_time, voters_count
            if closed_at is not None or poll.closed_at is None:
                poll.closed_at = closed_at
            poll.save(update_fields=["multiple", "expires_at", "closed_at", "voters_count"])
        existing = list(poll.options.all())
        if [o.title for o in existing] == [t for t, _ in options]:
            for option, (_, votes) in zip(existing, options, strict=True):
                if option.votes_count != votes:
                    option.votes_count = votes
                    option.save(update_fields=["votes_count"])
        else:
            poll.options.all().delete()  # votes cascade
            PollOption.objects.bulk_create(
                [PollOption(poll=poll, position=i, title=t, votes_count=c) for i, (t, c) in enumerate(options)]
            )
    return poll


def vote_to_ap(voter: Actor, post: Post, title: str, note_id: str) -> dict[str, Any]:
    """The ``Create{Note}`` of one vote (Mastodon's shape: the note has a name and no content)."""
    to = [post.author.ap_id]
    return {
        "@context": AS_CONTEXT,
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": voter.ap_id,
        "to": to,
        "object": {
            "id": note_id,
            "type": "Note",
            "name": title,
            "attributedTo": voter.ap_id,
            "inReplyTo": post.ap_id,
            "to": to,
        },
    }


def vote_notes(activity: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The vote notes of a ``Create`` (one note, or GoToSocial's list), None if it is no vote."""
    objects = as_list(activity.get("object"))
    if not objects or not all(isinstance(o, dict) for o in objects):
        return None
    for obj in objects:
        name, content = obj.get("name"), obj.get("content")
        if (
            type_of(obj) not in VOTE_TYPES
            or not isinstance(name, str)
            or not name.strip()
            or not id_of(obj.get("inReplyTo"))
        ):
            return None
        if isinstance(content, str) and content.strip():
            return None
    return objects


def question_update_to_ap(poll: Poll) -> dict[str, Any]:
    """``Update{Question}`` carrying the poll's current totals (the whole post, as Mastodon)."""
    from microblog.activitypub import post_to_ap  # same layer; imported late to avoid a cycle

    obj = post_to_ap(poll.post, context=False)
    obj.update(poll_to_ap_fields(poll))
    return {
        "@context": AS_CONTEXT,
        "id": new_activity_id(),
        "type": "Update",
        "actor": poll.post.author.ap_id,
        "to": obj.get("to", []),
        "cc": obj.get("cc", []),
        "object": obj,
    }

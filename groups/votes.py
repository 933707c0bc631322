"""Group votes: polls attributed to the group (``Question`` whose ``attributedTo`` is the group
actor), so votes from any node (``Create{Note{name, inReplyTo}}``, one per choice, or
GoToSocial's bundled list) reach the group's inbox and are counted by ``microblog.polls``.

- Only active members vote: :func:`check_vote` is registered with
  ``microblog.polls.register_vote_check``; a non-member's vote is refused (a local one with
  ``PollError``, a remote one with ``Reject``) and never counted. Duplicates (a second vote in a
  single-choice poll, the same option twice) are refused by ``microblog.polls`` itself.
- Secret ballot (``Poll.secret``): who voted is recorded (``PollVote`` rows, for turnout and
  duplicate checks); what each voted never leaves the node: the AS2 ``Question`` and the client
  API carry totals only, and :func:`results` gives officers the list of voters without choices.
- Turnout: voters / active members (:func:`turnout`).
- Results: when the poll closes, ``microblog.polls.close_poll`` sends the final
  ``Update{Question}`` from the group to its followers (the members' nodes) and the voters.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from federation.models import Actor, ActorType
from groups.models import Group, Membership, MembershipState
from groups.services import has_perm, is_member, is_officer
from microblog import polls, services
from microblog.models import Poll, PollVote, Post, Visibility


def group_of_poll(poll: Poll) -> Group | None:
    """The local group a poll belongs to (its post's author), or None for other polls."""
    author = poll.post.author
    if not author.local or author.type != ActorType.GROUP:
        return None
    return Group.objects.filter(actor=author).first()


def check_vote(poll: Poll, voter: Actor) -> str | None:
    """Vote check for ``microblog.polls``: in a group poll only active members vote."""
    group = group_of_poll(poll)
    if group is not None and not is_member(voter, group):
        return "only members of the group may vote in its polls"
    return None


polls.register_vote_check(check_vote)


def create_group_poll(
    officer: Actor,
    group: Group,
    *,
    text: str,
    options: list[str],
    expires_in: int,
    multiple: bool = False,
    secret: bool = False,
) -> Post:
    """An officer with the ``polls`` permission opens a poll in the group: a ``Question``
    authored by the group actor (followers-only, i.e. the members, in a members-only group;
    public otherwise). Raises ``PermissionDenied`` or ``services.PostError``; stores nothing then."""
    if not has_perm(officer, group, "polls"):
        raise PermissionDenied("not allowed to open polls in this group")
    visibility = Visibility.PRIVATE if group.members_only else Visibility.PUBLIC
    with transaction.atomic():
        post = services.create_post(
            group.actor,
            text=text,
            visibility=visibility,
            poll={"options": options, "expires_in": expires_in, "multiple": multiple},
        )
        Poll.objects.filter(post=post).update(secret=bool(secret))
    return post


def vote_in_group(member: Actor, poll: Poll, choices: list[int]) -> Poll:
    """A local member votes (``microblog.polls.vote``; membership checked by :func:`check_vote`)."""
    return polls.vote(member, poll, choices)


def turnout(poll: Poll) -> dict[str, Any]:
    """``{"voters", "members", "turnout"}``: voters so far against the group's active members
    (a fraction 0..1, 0 when the group has no members)."""
    group = group_of_poll(poll)
    members = Membership.objects.filter(group=group, state=MembershipState.ACTIVE).count() if group else 0
    voters = PollVote.objects.filter(poll=poll).values("voter").distinct().count()
    return {"voters": voters, "members": members, "turnout": round(voters / members, 4) if members else 0.0}


def results(poll: Poll, viewer: Actor | None) -> dict[str, Any]:
    """Totals, turnout and state of a group poll for ``viewer`` (a member; else
    ``PermissionDenied``). Officers also get the voters; with each one's choices only when the
    ballot is not secret."""
    group = group_of_poll(poll)
    if group is None or not (is_member(viewer, group) or (viewer is not None and viewer.pk == group.actor_id)):
        raise PermissionDenied("only members see this poll's results")
    data: dict[str, Any] = {
        "id": str(poll.pk),
        "status_id": str(poll.post_id),
        "secret": poll.secret,
        "multiple": poll.multiple,
        "expired": poll.expired,
        "expires_at": poll.expires_at.isoformat() if poll.expires_at else None,
        "options": [{"title": o.title, "votes_count": o.votes_count} for o in poll.options.all()],
        **turnout(poll),
    }
    if is_officer(viewer, group):
        votes = (
            PollVote.objects.filter(poll=poll)
            .select_related("voter", "option")
            .order_by("voter_id", "option__position")
        )
        ballots: dict[str, list[str]] = {}
        for row in votes:
            ballots.setdefault(row.voter.handle, []).append(row.option.title)
        if poll.secret:
            data["voter_accounts"] = sorted(ballots)
        else:
            data["ballots"] = [{"account": acct, "choices": choices} for acct, choices in sorted(ballots.items())]
    return data

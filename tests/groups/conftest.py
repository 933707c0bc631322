"""Groups fixtures: groups with a secretary, and members in any state. Others append below (additive)."""

from __future__ import annotations

import pytest

from federation.models import Actor, Follow, FollowState
from groups.models import Group, Membership, MembershipState
from groups.services import create_group


@pytest.fixture
def secretary(make_local_member) -> Actor:
    """sec, a local member who founds groups."""
    return make_local_member("sec")


@pytest.fixture
def make_group(db, make_local_member):
    """Factory: a local group ``name`` (kind branch) whose secretary is ``secretary`` (a new local
    member ``<name>_sec`` when omitted)."""

    def make(name: str = "branch1", secretary: Actor | None = None, **kwargs) -> Group:
        if secretary is None:
            secretary = make_local_member(f"{name}_sec"[:30])
        kwargs.setdefault("display_name", name.title())
        kwargs.setdefault("kind", "branch")
        return create_group(name, secretary=secretary, **kwargs)

    return make


@pytest.fixture
def group(make_group, secretary) -> Group:
    """branch1, a members-only branch whose secretary is ``secretary``."""
    return make_group("branch1", secretary=secretary)


@pytest.fixture
def make_member(db):
    """Factory: put ``actor`` (local or remote) in ``group`` directly, with ``role`` and ``state``
    (default active member) and the matching accepted ``Follow`` of the group actor."""

    def make(group: Group, actor: Actor, role: str = "member", state: str = MembershipState.ACTIVE) -> Membership:
        from django.utils import timezone

        membership, _ = Membership.objects.update_or_create(
            group=group,
            actor=actor,
            defaults={"role": role, "state": state, "joined_at": timezone.now() if state == "active" else None},
        )
        follow_state = FollowState.ACCEPTED if state == MembershipState.ACTIVE else FollowState.PENDING
        if state in (MembershipState.ACTIVE, MembershipState.PENDING):
            Follow.objects.update_or_create(
                follower=actor,
                target=group.actor,
                defaults={"state": follow_state, "ap_id": f"{actor.ap_id}#follow-{group.pk}"},
            )
        return membership

    return make


# Client API fixtures (a bearer token per member), shared with the microblog API tests.
from tests.microblog.api.conftest import ApiClient, api_for, make_token, oauth_app  # noqa: E402, F401


@pytest.fixture
def anon_api() -> ApiClient:
    """A client API caller without a token."""
    return ApiClient(None)

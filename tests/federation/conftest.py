"""Federation fixtures: local members with actors, remote actors with real keys."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from federation.actors import create_local_actor
from federation.keys import generate_key_pair
from federation.models import Actor, ActorType
from tests.federation.fakeserver import fake_server  # noqa: F401 - fixture


@pytest.fixture
def make_local_member(db):
    """Factory: a member (User) with its Person actor."""

    def make(username: str = "alice", **kwargs) -> Actor:
        user = get_user_model().objects.create_user(username=username, password="x-Secret-123")
        return create_local_actor(username=username, user=user, name=kwargs.pop("name", username.title()), **kwargs)

    return make


@pytest.fixture
def local_member(make_local_member) -> Actor:
    """alice, a member of this node."""
    return make_local_member("alice")


@pytest.fixture
def make_remote_actor(db):
    """Factory: a cached remote actor on ``domain`` with a real RSA key; returns (actor, private_pem)."""

    def make(
        username: str = "bob", domain: str = "remote.example", scheme: str = "https", **fields
    ) -> tuple[Actor, str]:
        private_pem, public_pem = generate_key_pair()
        base = f"{scheme}://{domain}/users/{username}"
        actor = Actor.objects.create(
            ap_id=base,
            local=False,
            type=fields.pop("type", ActorType.PERSON),
            username=username,
            domain=domain,
            inbox_url=f"{base}/inbox",
            shared_inbox_url=f"{scheme}://{domain}/inbox",
            public_key_id=f"{base}#main-key",
            public_key_pem=public_pem,
            **fields,
        )
        from django.utils import timezone

        actor.fetched_at = timezone.now()
        actor.save(update_fields=["fetched_at"])
        return actor, private_pem

    return make

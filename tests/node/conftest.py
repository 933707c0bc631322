"""Fixtures shared by the node (hub) tests."""

from __future__ import annotations

import pytest

from federation.models import Actor, ActorType
from node.models import NodeRelation, RelationDirection, RelationState


@pytest.fixture
def parent(db, make_remote_actor) -> Actor:
    """Our accepted parent hub (deliveries to it are held, never sent)."""
    actor, _ = make_remote_actor("instance.actor", domain="province.example", type=ActorType.APPLICATION)
    NodeRelation.objects.create(
        actor=actor, direction=RelationDirection.PARENT, state=RelationState.ACCEPTED, domain=actor.domain
    )
    return actor

"""The Group actor document and its moderators collection (Lemmy's shape)."""

from __future__ import annotations

import json

from django.test import Client

from groups import services

AP = "application/activity+json"


def test_group_document_has_moderators_and_attributed_to(group, secretary, fixture_path):
    """The AS2 Group names its moderators collection in attributedTo, like Lemmy's group.json."""
    doc = Client().get(f"/actors/{group.actor.pk}", HTTP_ACCEPT=AP).json()
    lemmy = json.loads(fixture_path("lemmy/group.json").read_text())
    assert doc["type"] == lemmy["type"] == "Group"
    assert doc["attributedTo"] == f"{group.actor.ap_id}/moderators"
    assert doc["moderators"] == doc["attributedTo"]
    assert doc["postingRestrictedToMods"] is False
    assert doc["manuallyApprovesFollowers"] is True
    assert doc["featured"].endswith("/featured")
    assert doc["memberCount"] == 1
    assert any(isinstance(c, dict) and "moderators" in c for c in doc["@context"])
    for key in ("inbox", "outbox", "followers", "publicKey", "endpoints"):
        assert key in doc


def test_person_document_has_no_group_fields(secretary):
    """Members' documents are not touched by the group extras."""
    doc = Client().get(f"/actors/{secretary.pk}", HTTP_ACCEPT=AP).json()
    assert "moderators" not in doc and "attributedTo" not in doc


def test_moderators_collection_lists_officers(group, secretary, make_local_member, make_member):
    """The moderators collection lists officers only, secretary first."""
    deputy = make_local_member("deputy")
    make_member(group, deputy, role="deputy_secretary")
    make_member(group, make_local_member("plain"))
    response = Client().get(f"/actors/{group.actor.pk}/moderators", HTTP_ACCEPT=AP)
    assert response.status_code == 200
    doc = response.json()
    assert doc["type"] == "OrderedCollection"
    assert doc["orderedItems"] == [secretary.ap_id, deputy.ap_id]
    assert doc["totalItems"] == 2


def test_moderators_of_non_group_is_404(secretary):
    """A member has no moderators collection."""
    assert Client().get(f"/actors/{secretary.pk}/moderators", HTTP_ACCEPT=AP).status_code == 404


def test_mastodon_api_shows_group_flag(group, secretary):
    """The Mastodon account of a group says group: true."""
    from microblog.api.account_serializers import account

    assert account(group.actor)["group"] is True
    assert account(secretary)["group"] is False
    assert services.is_member(secretary, group)

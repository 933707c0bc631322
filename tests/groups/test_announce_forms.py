"""A group's new post reaches each follower inbox in the announce form its software processes
(``federation.software.announce_forms``): ``Announce{Create}`` for Redcloud and Lemmy, the
plain ``Announce`` for Mastodon, both for a peer whose software is unknown."""

from __future__ import annotations

import pytest

from federation.models import Delivery, Domain, Follow, FollowState, OutboxActivity
from groups.posts import create_group_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
HOSTS = {"county.example": "redcloud", "lemmy.example": "lemmy", "toot.example": "mastodon", "new.example": ""}


def test_each_inbox_gets_the_forms_its_software_needs(
    make_group, secretary, make_member, local_member, make_remote_actor, django_capture_on_commit_callbacks
):
    group = make_group("open1", secretary=secretary, members_only=False)
    make_member(group, local_member)
    for host, name in HOSTS.items():
        Domain.objects.update_or_create(host=host, defaults={"software": name})
        follower, _ = make_remote_actor("m", domain=host)
        Follow.objects.create(
            follower=follower, target=group.actor, ap_id=f"{follower.ap_id}#f", state=FollowState.ACCEPTED
        )
    with django_capture_on_commit_callbacks(execute=True):
        create_group_post(local_member, group.actor, text="同志们好")
    wrapped, plain = OutboxActivity.objects.filter(actor=group.actor, type="Announce").order_by("pk")
    assert wrapped.body["object"]["type"] == "Create" and plain.body["object"]["type"] == "Note"

    def hosts(activity):
        return set(Delivery.objects.filter(activity=activity).values_list("domain", flat=True))

    assert hosts(wrapped) == {"county.example", "lemmy.example", "new.example"}
    assert hosts(plain) == {"toot.example", "new.example"}

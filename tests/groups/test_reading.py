"""Reading group posts on a member's node: members see members-only posts of their groups
(status by id, group timeline in the API and HTML, home timeline through the group's boost);
non-members and the public never do; pagination of the group timeline."""

from __future__ import annotations

import pytest
from django.test import Client

from federation.models import Actor, ActorType, Follow, FollowState
from groups.models import GroupPost
from groups.posts import create_group_post
from microblog import services, timelines
from microblog.models import Post
from tests.groups.test_posts import deliver

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]
AS2 = "application/activity+json"


@pytest.fixture
def club(make_remote_actor, local_member):
    """club@groups.example, a remote members-only group alice belongs to (accepted follow)."""
    group = make_remote_actor("club", domain="groups.example", type=ActorType.GROUP)[0]
    Follow.objects.create(follower=local_member, target=group, state=FollowState.ACCEPTED, ap_id="https://x/f/9")
    return group


@pytest.fixture
def zed(make_remote_actor):
    """zed@members.example, a member of club living on a third node."""
    return make_remote_actor("zed", domain="members.example")[0]


def members_only_announce(group: Actor, author: Actor, n: int = 1) -> dict:
    """The group's Announce{Create{Note}} of a members-only post by ``author``."""
    obj = {
        "id": f"{author.ap_id}/statuses/{n}",
        "type": "Note",
        "attributedTo": author.ap_id,
        "to": [group.ap_id],
        "audience": group.ap_id,
        "content": f"<p>members only {n}</p>",
        "published": "2025-01-01T00:00:00Z",
    }
    create = {"id": f"{author.ap_id}/activities/{n}", "type": "Create", "actor": author.ap_id, "object": obj}
    return {"type": "Announce", "id": f"{group.ap_id}/announces/{n}", "to": [group.followers_url], "object": create}


def test_remote_group_post_visible_to_member_only(club, zed, local_member, make_local_member):
    """A members-only post announced by a remote group is visible to its member here, not to others."""
    outsider = make_local_member("carol")
    assert deliver(members_only_announce(club, zed), club).state == "processed"
    post = Post.objects.get(ap_id=f"{zed.ap_id}/statuses/1")
    assert post.visibility == "direct" and post.audience_id == club.pk
    assert services.get_post_for(local_member, post.pk) == post
    with pytest.raises(Post.DoesNotExist):
        services.get_post_for(outsider, post.pk)
    with pytest.raises(Post.DoesNotExist):
        services.get_post_for(None, post.pk)


def test_remote_group_post_in_member_home_timeline(club, zed, local_member, make_local_member):
    """The group's boost puts its announced post in the member's home timeline, not an outsider's."""
    outsider = make_local_member("carol")
    Follow.objects.create(follower=outsider, target=zed, state=FollowState.ACCEPTED, ap_id="https://x/f/10")
    deliver(members_only_announce(club, zed), club)
    post = Post.objects.get(ap_id=f"{zed.ap_id}/statuses/1")
    home = timelines.home(local_member)
    assert [(p.author_id, p.reblog_of_id) for p in home] == [(club.pk, post.pk)]
    assert timelines.home(outsider) == []  # following the author does not open a members-only post


def test_audience_alone_does_not_open_a_post(club, local_member, make_remote_actor):
    """A direct post that merely names the group as audience (not carried) stays hidden."""
    mallory = make_remote_actor("mallory", domain="evil.example")[0]
    post = Post.objects.create(
        ap_id=f"{mallory.ap_id}/s/1", author=mallory, visibility="direct", audience=club, content="spam"
    )
    with pytest.raises(Post.DoesNotExist):
        services.get_post_for(local_member, post.pk)


def test_left_member_loses_access(club, zed, local_member):
    """After the follow of the remote group ends, its members-only posts are hidden again."""
    deliver(members_only_announce(club, zed), club)
    post = Post.objects.get(ap_id=f"{zed.ap_id}/statuses/1")
    Follow.objects.filter(follower=local_member, target=club).delete()
    assert not services.can_see(local_member, post)


def test_remote_group_timeline_api_for_member_and_public(club, zed, local_member, api_for, anon_api):
    """GET /api/v1/groups/account/:id/statuses: members get the posts with a Link header; others nothing."""
    for n in (1, 2, 3):
        deliver(members_only_announce(club, zed, n), club)
    url = f"/api/v1/groups/account/{club.pk}/statuses"
    first = api_for(local_member).get(url, {"limit": 2})
    assert first.status_code == 200
    assert [s["uri"] for s in first.json()] == [f"{zed.ap_id}/statuses/3", f"{zed.ap_id}/statuses/2"]
    assert 'rel="next"' in first["Link"] and "max_id=" in first["Link"]
    older = api_for(local_member).get(url, {"limit": 2, "max_id": first.json()[-1]["id"]}).json()
    assert [s["uri"] for s in older] == [f"{zed.ap_id}/statuses/1"]
    assert anon_api.get(url).json() == []
    assert anon_api.get(f"/api/v1/groups/account/{zed.pk}/statuses").status_code == 404  # not a group


def test_local_group_member_post_in_fellow_member_home(
    group, make_member, local_member, make_local_member, django_capture_on_commit_callbacks
):
    """A members-only post to our group reaches a fellow member's home (the group's boost) and status view."""
    carol, outsider = make_local_member("carol"), make_local_member("dan")
    make_member(group, local_member)
    make_member(group, carol)
    with django_capture_on_commit_callbacks(execute=True):
        post = create_group_post(local_member, group.actor, text="members only")
    assert [p.reblog_of_id for p in timelines.home(carol)] == [post.pk]
    assert services.can_see(carol, post) and not services.can_see(outsider, post)
    assert timelines.home(outsider) == []


def test_group_posts_page_members_only(
    group, make_member, local_member, make_local_member, client, django_capture_on_commit_callbacks
):
    """/g/<name>/posts shows members-only posts to members, not to visitors or non-members."""
    make_member(group, local_member)
    with django_capture_on_commit_callbacks(execute=True):
        create_group_post(local_member, group.actor, text="secret agenda")
    url = f"/g/{group.actor.username}/posts"
    assert "secret agenda" not in Client().get(url).content.decode()
    outsider = make_local_member("dan")
    client.force_login(outsider.user)
    page = client.get(url)
    assert page.status_code == 200 and "secret agenda" not in page.content.decode()
    client.force_login(local_member.user)
    page = client.get(url).content.decode()
    assert "secret agenda" in page and 'name="status"' in page
    assert Client().get(url, HTTP_ACCEPT=AS2).status_code == 404


def test_group_posts_page_of_remote_group_paginates(club, zed, local_member, client):
    """/g/<name@domain>/posts lists a remote group's posts to its member, with an older-posts link."""
    for n in range(1, 23):
        deliver(members_only_announce(club, zed, n), club)
    client.force_login(local_member.user)
    page = client.get(f"/g/{club.handle}/posts").content.decode()
    assert "members only 22" in page and "members only 2<" not in page and "max_id=" in page
    oldest = GroupPost.objects.filter(group_actor=club).order_by("post_id").values_list("post_id", flat=True)[2]
    older = client.get(f"/g/{club.handle}/posts", {"max_id": oldest}).content.decode()
    assert "members only 1<" in older and "members only 2<" in older
    assert client.get("/g/nobody@nowhere.example/posts").status_code == 404


def test_non_member_post_form_refused(group, make_local_member, client):
    """A non-member's POST to the group posts page stores nothing and says why."""
    outsider = make_local_member("dan")
    client.force_login(outsider.user)
    response = client.post(f"/g/{group.actor.username}/posts", {"status": "let me in"}, follow=True)
    assert "只有成员才能在本组发帖。" in response.content.decode()  # the node's default language, zh-Hans
    assert not Post.objects.filter(author=outsider).exists()

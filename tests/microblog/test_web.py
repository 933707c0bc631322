"""Microblog web UI with Django's test client: access rules, posting, validation in Chinese,
visibility (404 for others' private posts), interactions, follows, profiles, search, CSRF."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from PIL import Image

from federation.models import Follow, FollowState, OutboxActivity
from microblog import interactions, services
from microblog.models import Bookmark, Favourite, Media, Notification, Poll, PollVote, Post

PASSWORD = "x-Secret-123"  # what tests/conftest.py's make_local_member sets


@pytest.fixture(scope="session", autouse=True)
def _compiled_messages():
    """Compile the .po files so pages really come out in Chinese."""
    call_command("compilemessages", ignore_patterns=[".venv", "var"], verbosity=0)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """A throw-away media directory and cheap password hashing."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(make_local_member):
    return make_local_member("alice")


@pytest.fixture
def bob(make_local_member):
    return make_local_member("bob")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice.user)
    return client


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _compose(**fields) -> dict:
    data = {"text": "", "visibility": "public", "language": "zh-Hans", "summary": "", "poll_duration": "86400"}
    data.update(fields)
    return data


# --- access rules ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["timeline_home", "notifications", "compose"])
def test_member_pages_redirect_to_login_when_anonymous(client, name):
    """Home timeline, notifications and compose need a signed-in member."""
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["timeline_local", "timeline_federated", "search"])
def test_public_pages_open_to_visitors_when_anonymous(client, alice, name):
    """Local and federated timelines and search are open to visitors and show public posts."""
    services.create_post(alice, text="公开的消息 hello")
    response = client.get(reverse(name), {"q": "hello"} if name == "search" else {})
    assert response.status_code == 200
    assert "公开的消息" in response.content.decode()


def test_anonymous_post_actions_redirect_and_store_nothing(client, alice):
    """A visitor's like/boost/compose POSTs go to the login page and change nothing."""
    post = services.create_post(alice, text="hello")
    for url in (reverse("post_action", args=[post.pk, "favourite"]), reverse("compose")):
        response = client.post(url, _compose(text="sneaky"))
        assert response.status_code == 302 and reverse("login") in response["Location"]
    assert not Favourite.objects.exists()
    assert Post.objects.count() == 1


def test_pages_are_chinese_by_default(client, alice):
    """Without a language choice the UI speaks Simplified Chinese; English on request."""
    services.create_post(alice, text="hello")
    body = client.get(reverse("timeline_local")).content.decode()
    assert "本站" in body and "跨站" in body
    client.cookies["django_language"] = "en"
    body = client.get(reverse("timeline_local")).content.decode()
    assert "Federated" in body


# --- posting --------------------------------------------------------------------------------


def test_compose_publishes_post_with_visibility_cw_and_language(alice_client, alice):
    """A member's post is stored with its visibility, content warning and language and shows up on home."""
    response = alice_client.post(
        reverse("compose"),
        _compose(text="茶园 #春茶", visibility="unlisted", summary="剧透", language="bo"),
    )
    assert response.status_code == 302
    post = Post.objects.get(author=alice)
    assert (post.source, post.visibility, post.summary, post.sensitive, post.language) == (
        "茶园 #春茶",
        "unlisted",
        "剧透",
        True,
        "bo",
    )
    home = alice_client.get(reverse("timeline_home")).content.decode()
    assert "茶园" in home and "剧透" in home and 'lang="bo"' in home


def test_compose_form_offers_minority_languages_with_native_names(alice_client):
    """The language select lists zh-Hans, en, bo, khb and tdd with their native names."""
    body = alice_client.get(reverse("compose")).content.decode()
    for code, name in [("zh-Hans", "简体中文"), ("en", "English"), ("bo", "བོད་ཡིག"), ("khb", ""), ("tdd", "")]:
        assert f'value="{code}"' in body
        assert name in body


def test_compose_empty_text_shows_chinese_error_and_stores_nothing(alice_client):
    """An empty post is refused on the form (400) with a Chinese message; nothing is stored."""
    response = alice_client.post(reverse("compose"), _compose(text="   "))
    assert response.status_code == 400
    assert "请先写点内容" in response.content.decode()
    assert not Post.objects.exists()


def test_compose_too_long_shows_limit_error_and_stores_nothing(alice_client, settings):
    """A post over the character limit is refused with Django's Chinese length message."""
    response = alice_client.post(reverse("compose"), _compose(text="字" * (settings.MICROBLOG_MAX_CHARS + 1)))
    assert response.status_code == 400
    assert f"不超过 {settings.MICROBLOG_MAX_CHARS} 字符" in response.content.decode()
    assert not Post.objects.exists()


def test_compose_with_image_and_alt_text_attaches_media(alice_client, alice):
    """An uploaded image with a description becomes the post's attachment with alt text."""
    upload = SimpleUploadedFile("tea.png", _png(), content_type="image/png")
    response = alice_client.post(reverse("compose"), _compose(text="看图", image=upload, image_description="一片茶园"))
    assert response.status_code == 302
    media = Media.objects.get()
    assert media.post.source == "看图" and media.description == "一片茶园"
    page = alice_client.get(reverse("post_detail", args=[media.post_id])).content.decode()
    assert 'alt="一片茶园"' in page


def test_compose_with_wrong_file_type_is_refused(alice_client):
    """A non-image upload is refused on the form and no post or media is stored."""
    upload = SimpleUploadedFile("x.png", b"not an image at all", content_type="image/png")
    response = alice_client.post(reverse("compose"), _compose(text="x", image=upload))
    assert response.status_code == 400
    assert not Post.objects.exists() and not Media.objects.exists()


def test_compose_with_poll_creates_poll_and_others_can_vote(alice_client, alice, bob, client):
    """Poll options and duration make a poll; another member votes through the page."""
    response = alice_client.post(
        reverse("compose"),
        _compose(text="午饭吃什么？", poll_option_1="米线", poll_option_2="饵块", poll_duration="3600"),
    )
    assert response.status_code == 302
    poll = Poll.objects.get()
    assert [o.title for o in poll.options.all()] == ["米线", "饵块"]
    bob_client = Client()
    bob_client.force_login(bob.user)
    page = bob_client.get(reverse("post_detail", args=[poll.post_id])).content.decode()
    assert 'name="choice"' in page
    response = bob_client.post(reverse("poll_vote", args=[poll.post_id]), {"choice": "1"})
    assert response.status_code == 302
    assert PollVote.objects.get().option.title == "饵块"


def test_compose_poll_with_one_option_is_refused(alice_client):
    """A poll with a single option is a form error and stores nothing."""
    response = alice_client.post(reverse("compose"), _compose(text="?", poll_option_1="只有一个"))
    assert response.status_code == 400
    assert not Post.objects.exists()


def test_reply_from_thread_page_joins_thread(alice_client, alice, bob):
    """The thread page shows a reply form; the reply appears under the post, ancestors above."""
    root = services.create_post(bob, text="根帖")
    middle = services.create_post(alice, text="中间", in_reply_to=root)
    page = alice_client.get(reverse("post_detail", args=[middle.pk])).content.decode()
    assert "根帖" in page and 'name="in_reply_to"' in page
    response = alice_client.post(reverse("compose"), _compose(text="@bob 第三层", in_reply_to=str(middle.pk)))
    assert response.status_code == 302
    reply = Post.objects.get(source="@bob 第三层")
    assert reply.in_reply_to_id == middle.pk
    page = alice_client.get(reverse("post_detail", args=[root.pk])).content.decode()
    assert page.index("根帖") < page.index("中间") < page.index("第三层")


def test_mastodon_style_post_url_serves_thread(client, alice):
    """``/@alice/<id>`` (the post's ``url``) shows the post; a wrong author name is 404."""
    post = services.create_post(alice, text="地址")
    assert client.get(f"/@alice/{post.pk}").status_code == 200
    assert client.get(f"/@nobody/{post.pk}").status_code == 404


# --- visibility and ownership ---------------------------------------------------------------


def test_private_post_hidden_from_non_followers(client, alice, bob):
    """A followers-only post is 404 for visitors and non-followers, visible to an accepted follower."""
    post = services.create_post(bob, text="只给关注者", visibility="private")
    url = reverse("post_detail", args=[post.pk])
    assert client.get(url).status_code == 404
    client.force_login(alice.user)
    assert client.get(url).status_code == 404
    assert "只给关注者" not in client.get(reverse("timeline_federated")).content.decode()
    assert client.post(reverse("post_action", args=[post.pk, "favourite"])).status_code == 404
    assert not Favourite.objects.exists()
    Follow.objects.create(follower=alice, target=bob, state=FollowState.ACCEPTED)
    assert client.get(url).status_code == 200


def test_editing_others_post_is_forbidden_and_changes_nothing(alice_client, bob):
    """Another member's post cannot be edited (403) or deleted (403); it stays as it was."""
    post = services.create_post(bob, text="原文")
    assert alice_client.get(reverse("post_edit", args=[post.pk])).status_code == 403
    response = alice_client.post(reverse("post_edit", args=[post.pk]), {"text": "改了", "language": "zh-Hans"})
    assert response.status_code == 403
    assert alice_client.post(reverse("post_delete", args=[post.pk])).status_code == 403
    post.refresh_from_db()
    assert post.source == "原文" and post.deleted_at is None and not post.edits.exists()


def test_edit_own_post_keeps_history(alice_client, alice):
    """Editing one's post changes its text and keeps the previous version."""
    post = services.create_post(alice, text="初稿")
    response = alice_client.post(
        reverse("post_edit", args=[post.pk]), {"text": "定稿", "summary": "", "language": "zh-Hans"}
    )
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.source == "定稿"
    assert any("初稿" in edit.content for edit in post.edits.all())


def test_delete_own_post_removes_it_from_pages(alice_client, alice):
    """Deleting one's post tombstones it; its page is then 404."""
    post = services.create_post(alice, text="要删掉")
    response = alice_client.post(reverse("post_delete", args=[post.pk]))
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.deleted_at is not None
    assert alice_client.get(reverse("post_detail", args=[post.pk])).status_code == 404


# --- interactions, follows ------------------------------------------------------------------


def test_like_boost_bookmark_buttons_toggle(alice_client, alice, bob):
    """The like, boost and bookmark forms store the interaction and their undo removes it."""
    post = services.create_post(bob, text="好消息")
    for action in ("favourite", "reblog", "bookmark"):
        response = alice_client.post(reverse("post_action", args=[post.pk, action]), {"next": "/timelines/local"})
        assert response.status_code == 302 and response["Location"].startswith("/timelines/local")
    assert Favourite.objects.filter(actor=alice, post=post).exists()
    assert Post.objects.filter(author=alice, reblog_of=post, deleted_at__isnull=True).exists()
    assert Bookmark.objects.filter(user=alice.user, post=post).exists()
    page = alice_client.get(reverse("post_detail", args=[post.pk])).content.decode()
    assert "unfavourite" in page and "unreblog" in page and "unbookmark" in page
    for action in ("unfavourite", "unreblog", "unbookmark"):
        alice_client.post(reverse("post_action", args=[post.pk, action]))
    assert not Favourite.objects.exists() and not Bookmark.objects.exists()
    assert not Post.objects.filter(reblog_of=post, deleted_at__isnull=True).exists()


def test_next_parameter_cannot_redirect_off_site(alice_client, bob):
    """A foreign ``next`` is ignored: the redirect stays on this node."""
    post = services.create_post(bob, text="x")
    response = alice_client.post(reverse("post_action", args=[post.pk, "favourite"]), {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"].startswith("/")


def test_follow_button_on_member_profile(alice_client, alice, bob):
    """A member's profile shows their posts and a follow button; following and unfollowing work."""
    services.create_post(bob, text="鲍勃的帖子")
    page = alice_client.get(reverse("profile", args=["bob"])).content.decode()
    assert "鲍勃的帖子" in page and reverse("actor_follow", args=[bob.pk]) in page
    alice_client.post(reverse("actor_follow", args=[bob.pk]))
    assert Follow.objects.get(follower=alice, target=bob).state == FollowState.ACCEPTED
    page = alice_client.get(reverse("profile", args=["bob"])).content.decode()
    assert reverse("actor_unfollow", args=[bob.pk]) in page
    alice_client.post(reverse("actor_unfollow", args=[bob.pk]))
    assert not Follow.objects.exists()


def test_remote_profile_shows_stored_posts_and_follow_sends_follow(alice_client, alice, make_remote_actor):
    """``/@carol@remote.example`` shows a known remote account with its stored posts; following it
    creates a pending follow and a ``Follow`` activity for its inbox."""
    carol, _key = make_remote_actor("carol", domain="remote.example", name="Carol <b>")
    Post.objects.create(
        ap_id="https://remote.example/notes/1", author=carol, content="<p>远方的问候</p>", visibility="public"
    )
    page = alice_client.get("/@carol@remote.example").content.decode()
    assert "远方的问候" in page and "Carol &lt;b&gt;" in page
    alice_client.post(reverse("actor_follow", args=[carol.pk]))
    assert Follow.objects.get(follower=alice, target=carol).state == FollowState.PENDING
    assert OutboxActivity.objects.filter(type="Follow", actor=alice).exists()


def test_unknown_remote_profile_is_404_for_visitors_without_lookup(db, client, fake_server):
    """A visitor cannot make the node look up unknown accounts: 404 and no request sent."""
    response = client.get(f"/@nobody@{fake_server.netloc}")
    assert response.status_code == 404
    assert fake_server.connection_count == 0


def test_own_domain_handle_redirects_to_member_page(client, alice, settings):
    """``/@alice@<this node>`` is the member page ``/@alice``."""
    response = client.get(f"/@alice@{settings.NODE_DOMAIN}")
    assert response.status_code == 302 and response["Location"] == reverse("profile", args=["alice"])


# --- notifications, search, escaping, CSRF --------------------------------------------------


def test_notifications_page_lists_likes(alice_client, alice, bob):
    """A like of the member's post shows on their notifications page."""
    post = services.create_post(alice, text="我的帖子")
    interactions.favourite(bob, post)
    assert Notification.objects.filter(recipient=alice, type="favourite").exists()
    page = alice_client.get(reverse("notifications")).content.decode()
    assert "Bob" in page and "喜欢了你的帖子" in page


def test_search_finds_accounts_hashtags_and_posts(alice_client, alice, bob):
    """Search lists matching accounts, hashtags and posts (Chinese full text included)."""
    services.create_post(bob, text="党员教育 #学习")
    page = alice_client.get(reverse("search"), {"q": "bob"}).content.decode()
    assert reverse("profile", args=["bob"]) in page
    page = alice_client.get(reverse("search"), {"q": "党员"}).content.decode()
    assert "党员教育" in page
    page = alice_client.get(reverse("search"), {"q": "#学习"}).content.decode()
    assert reverse("hashtag", args=["学习"]) in page


def test_user_supplied_names_and_bios_are_escaped(alice_client, make_remote_actor):
    """Display names are escaped and remote bios sanitised; only post content is rendered as HTML."""
    evil, _key = make_remote_actor("evil", domain="remote.example", name="<script>alert(1)</script>")
    evil.summary = '<p>hi<script>alert(2)</script><img src=x onerror="alert(3)"></p>'
    evil.save()
    page = alice_client.get("/@evil@remote.example").content.decode()
    assert "<script>alert" not in page and "onerror" not in page
    assert "&lt;script&gt;alert(1)" in page


def test_csrf_is_enforced_on_posts(alice, bob):
    """Without the CSRF token, compose, like and follow are refused (403) and nothing is stored."""
    post = services.create_post(bob, text="x")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice.user)
    assert strict.post(reverse("compose"), _compose(text="no token")).status_code == 403
    assert strict.post(reverse("post_action", args=[post.pk, "favourite"])).status_code == 403
    assert strict.post(reverse("actor_follow", args=[bob.pk])).status_code == 403
    assert Post.objects.count() == 1 and not Favourite.objects.exists() and not Follow.objects.exists()
    page = strict.get(reverse("post_detail", args=[post.pk])).content.decode()
    forms = page.count('method="post"')
    assert forms >= 5  # like, boost, bookmark, reply, sign out, language
    assert page.count('name="csrfmiddlewaretoken"') == forms


def test_sign_in_then_post_through_the_pages(client, alice):
    """The real login form leads to a session that can post."""
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    response = client.post(reverse("compose"), _compose(text="第一条"))
    assert response.status_code == 302
    assert Post.objects.get().source == "第一条"


def test_timeline_paginates_by_max_id(alice_client, alice):
    """The home timeline shows 20 posts and an older-posts link by ``max_id`` to the rest."""
    posts = [services.create_post(alice, text=f"第{i}条") for i in range(23)]
    page = alice_client.get(reverse("timeline_home")).content.decode()
    assert "第22条" in page and "第2条<" not in page
    older = alice_client.get(reverse("timeline_home"), {"max_id": posts[3].pk}).content.decode()
    assert "第2条" in older and "第22条" not in older

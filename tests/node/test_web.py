"""Member web pages: login/logout, password change, registration modes, languages, profile, settings."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from federation.actors import create_local_actor
from federation.models import Actor, ActorType
from node.accounts import approve_member, create_invite, create_member
from node.models import Invite, User

PASSWORD = "Tea-garden-2024!"
SIGNUP = {
    "username": "newbie",
    "display_name": "Newbie",
    "real_name": "岩温",
    "password1": "Rice-terrace-77!",
    "password2": "Rice-terrace-77!",
}


@pytest.fixture(scope="session", autouse=True)
def _compiled_messages():
    """Compile the .po files so pages really come out in Chinese without `make messages`."""
    call_command("compilemessages", ignore_patterns=[".venv", "var"], verbosity=0)


@pytest.fixture(autouse=True)
def _fast_hasher(settings, tmp_path):
    """Cheap password hashing and a throw-away media directory."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def member(db):
    """An ordinary member with a real name."""
    return create_member("alice", display_name="Alice", real_name="王丽", password=PASSWORD)


def _png(size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


# --- login, logout, password change -------------------------------------------------------


@pytest.mark.django_db
def test_login_succeeds_with_right_password(client, member):
    """The right password signs the member in and redirects home."""
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(member.pk)


@pytest.mark.django_db
def test_login_refused_with_wrong_password(client, member):
    """A wrong password re-shows the form with an error and creates no session."""
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong-one"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_login_sets_member_language_cookie(client, member):
    """Signing in makes the member's saved language the page language."""
    User.objects.filter(pk=member.pk).update(language="en")
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.cookies["django_language"].value == "en"


@pytest.mark.django_db
def test_logout_by_post_signs_out(client, member):
    """POST to logout ends the session; GET is not allowed."""
    client.force_login(member)
    assert client.get(reverse("logout")).status_code == 405
    assert "_auth_user_id" in client.session
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_password_change_with_old_password(client, member):
    """A member changes their password by giving the old one; the new one then works."""
    client.force_login(member)
    new = "Yak-butter-tea-9!"
    response = client.post(
        reverse("password_change"), {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    member.refresh_from_db()
    assert member.check_password(new)


@pytest.mark.django_db
def test_password_change_refused_with_wrong_old_password(client, member):
    """A wrong old password leaves the password unchanged."""
    client.force_login(member)
    response = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": "X-y-z-12345!", "new_password2": "X-y-z-12345!"},
    )
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


# --- registration modes --------------------------------------------------------------------


@pytest.mark.django_db
def test_signup_closed_by_default_answers_403(client, settings):
    """With closed registration the sign-up page explains itself with 403 and a POST stores nothing."""
    settings.NODE_REGISTRATION = "closed"
    response = client.get(reverse("signup"))
    assert response.status_code == 403
    assert "不开放注册" in response.content.decode()
    response = client.post(reverse("signup"), SIGNUP)
    assert response.status_code == 403
    assert User.objects.count() == 0 and Actor.objects.count() == 0


@pytest.mark.django_db
def test_home_offers_no_signup_when_closed(client, settings):
    """A closed node's home page has no sign-up link."""
    settings.NODE_REGISTRATION = "closed"
    assert reverse("signup") not in client.get("/").content.decode()


@pytest.mark.django_db
def test_signup_with_valid_invite_creates_member(client, settings, member):
    """A valid invite link lets a person sign up; the use is counted and the actor exists."""
    settings.NODE_REGISTRATION = "invite"
    invite = create_invite(member)
    url = f"{reverse('signup')}?invite={invite.code}"
    assert client.get(url).status_code == 200
    response = client.post(url, SIGNUP)
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.is_active and user.real_name == "岩温"
    assert Actor.objects.filter(user=user, local=True, type=ActorType.PERSON).exists()
    invite.refresh_from_db()
    assert invite.uses == 1


@pytest.mark.django_db
@pytest.mark.parametrize("problem", ["missing", "unknown", "expired", "used_up"])
def test_signup_invite_refused_when_invalid(client, settings, member, problem):
    """Invite mode refuses a missing, unknown, expired or used-up invite with 403 and stores nothing."""
    settings.NODE_REGISTRATION = "invite"
    invite = create_invite(member, max_uses=2)
    code = invite.code
    if problem == "missing":
        code = ""
    elif problem == "unknown":
        code = "not-a-code"
    elif problem == "expired":
        Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        Invite.objects.filter(pk=invite.pk).update(uses=2)
    url = f"{reverse('signup')}?invite={code}"
    assert client.get(url).status_code == 403
    response = client.post(url, SIGNUP)
    assert response.status_code == 403
    assert not User.objects.filter(username="newbie").exists()
    assert not Actor.objects.filter(username="newbie").exists()
    invite.refresh_from_db()
    assert invite.uses == (2 if problem == "used_up" else 0)


@pytest.mark.django_db
def test_signup_approval_inactive_until_approved(client, settings):
    """Approval mode creates an inactive account that cannot sign in until an operator approves it."""
    settings.NODE_REGISTRATION = "approval"
    response = client.post(reverse("signup"), SIGNUP)
    assert response.status_code == 200
    user = User.objects.get(username="newbie")
    assert not user.is_active and user.awaiting_approval
    response = client.post(reverse("login"), {"username": "newbie", "password": SIGNUP["password1"]})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "等待管理员批准" in response.content.decode()
    approve_member(user)
    response = client.post(reverse("login"), {"username": "newbie", "password": SIGNUP["password1"]})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db
def test_pending_page_lets_staff_approve(client, settings):
    """The operator page lists waiting members and approves one by POST."""
    settings.NODE_REGISTRATION = "approval"
    client.post(reverse("signup"), SIGNUP)
    waiting = User.objects.get(username="newbie")
    staff = create_member("op", password=PASSWORD, is_staff=True)
    client.force_login(staff)
    assert "newbie" in client.get(reverse("pending_members")).content.decode()
    response = client.post(reverse("approve_member", args=[waiting.pk]))
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.is_active and not waiting.awaiting_approval


@pytest.mark.django_db
def test_pending_page_refused_to_members(client, settings, member):
    """An ordinary member can neither see the pending list nor approve anyone."""
    settings.NODE_REGISTRATION = "approval"
    client.post(reverse("signup"), SIGNUP)
    waiting = User.objects.get(username="newbie")
    client.force_login(member)
    assert client.get(reverse("pending_members")).status_code == 302
    assert client.post(reverse("approve_member", args=[waiting.pk])).status_code == 302
    waiting.refresh_from_db()
    assert not waiting.is_active


@pytest.mark.django_db
def test_signup_duplicate_member_name_is_form_error(client, settings, member):
    """Signing up with a member's name shows a form error and creates nothing."""
    settings.NODE_REGISTRATION = "approval"
    users, actors = User.objects.count(), Actor.objects.count()
    response = client.post(reverse("signup"), {**SIGNUP, "username": "alice"})
    assert response.status_code == 200
    assert "username" in response.context["form"].errors
    assert "已被某位成员或某个群组使用" in response.content.decode()
    assert (User.objects.count(), Actor.objects.count()) == (users, actors)


@pytest.mark.django_db
def test_signup_group_name_is_form_error(client, settings):
    """Signing up with a local group's name shows a form error and creates nothing."""
    settings.NODE_REGISTRATION = "approval"
    create_local_actor(username="farmers", type=ActorType.GROUP)
    response = client.post(reverse("signup"), {**SIGNUP, "username": "farmers"})
    assert response.status_code == 200
    assert "username" in response.context["form"].errors
    assert User.objects.count() == 0
    assert Actor.objects.count() == 1


@pytest.mark.django_db
def test_signup_mismatched_passwords_is_form_error(client, settings):
    """Two different passwords are refused and nothing is stored."""
    settings.NODE_REGISTRATION = "approval"
    response = client.post(reverse("signup"), {**SIGNUP, "password2": "something-else-1!"})
    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert User.objects.count() == 0


# --- languages and the base template --------------------------------------------------------


@pytest.mark.django_db
def test_home_is_chinese_by_default(client):
    """Without a preference the home page is in Simplified Chinese."""
    html = client.get("/").content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "首页" in html and "登录" in html


@pytest.mark.django_db
def test_home_in_english_with_accept_language(client):
    """A browser asking for English gets English."""
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en">' in html
    assert "Sign in" in html and "登录" not in html


@pytest.mark.django_db
def test_language_switcher_changes_language(client):
    """Posting to the switcher makes following pages English."""
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html and "Home" in html


@pytest.mark.django_db
def test_base_template_is_mobile_ready_and_self_contained(client, member):
    """Pages carry the viewport meta and load no asset from another host."""
    pages = [client.get(reverse("login")).content.decode()]
    client.force_login(member)
    for url in ("/", reverse("profile", args=["alice"]), reverse("account_settings")):
        pages.append(client.get(url).content.decode())
    for html in pages:
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
        assert 'action="/i18n/setlang/"' in html
    css = Path(__file__).resolve().parents[2] / "node" / "static" / "node" / "base.css"
    text = css.read_text()
    assert "http" not in text and "@import" not in text
    assert "Noto Sans Tibetan" in text and "Noto Sans New Tai Lue" in text


@pytest.mark.django_db
def test_home_shows_member_name_when_signed_in(client, member):
    """A signed-in member sees their name on the home page instead of the sign-in button."""
    client.force_login(member)
    html = client.get("/").content.decode()
    assert "欢迎你，Alice。" in html


# --- profile and settings -------------------------------------------------------------------


@pytest.mark.django_db
def test_profile_hides_real_name_from_others(client, member):
    """Anonymous visitors and other members see the public profile without the real name."""
    response = client.get(reverse("profile", args=["alice"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Alice" in html and "王丽" not in html
    other = create_member("bob", password=PASSWORD)
    client.force_login(other)
    assert "王丽" not in client.get(reverse("profile", args=["alice"])).content.decode()


@pytest.mark.django_db
def test_profile_shows_real_name_to_self_and_staff(client, member):
    """The member and the operators see the real name."""
    client.force_login(member)
    assert "王丽" in client.get(reverse("profile", args=["alice"])).content.decode()
    staff = create_member("op", password=PASSWORD, is_staff=True)
    client.force_login(staff)
    assert "王丽" in client.get(reverse("profile", args=["alice"])).content.decode()


@pytest.mark.django_db
def test_profile_unknown_or_inactive_is_404(client, settings):
    """Unknown names and accounts awaiting approval have no public page."""
    assert client.get(reverse("profile", args=["nobody"])).status_code == 404
    create_member("waiting", is_active=False, awaiting_approval=True)
    assert client.get(reverse("profile", args=["waiting"])).status_code == 404


@pytest.mark.django_db
def test_settings_requires_login(client):
    """Anonymous visitors are sent to the login page."""
    response = client.get(reverse("account_settings"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_settings_saves_profile_and_language(client, member):
    """A member edits display name, bio and language; the language cookie follows."""
    client.force_login(member)
    response = client.post(reverse("account_settings"), {"display_name": "Ali", "bio": "Tea farmer.", "language": "en"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "en"
    member.refresh_from_db()
    assert (member.display_name, member.bio, member.language) == ("Ali", "Tea farmer.", "en")


@pytest.mark.django_db
def test_settings_accepts_png_avatar(client, member):
    """A small PNG is stored under a random name and shown on the profile."""
    client.force_login(member)
    upload = SimpleUploadedFile("my photo.png", _png(), content_type="image/png")
    response = client.post(
        reverse("account_settings"), {"display_name": "Alice", "bio": "", "language": "zh-hans", "avatar": upload}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.avatar.name.startswith("avatars/") and member.avatar.name.endswith(".png")
    assert "my photo" not in member.avatar.name
    assert os.path.exists(member.avatar.path)


@pytest.mark.django_db
def test_settings_rejects_non_image_avatar(client, member):
    """A file that is not an image is refused and the avatar stays empty."""
    client.force_login(member)
    upload = SimpleUploadedFile("evil.png", b"<?php echo 'hi'; ?>" * 10, content_type="image/png")
    response = client.post(
        reverse("account_settings"), {"display_name": "Alice", "bio": "", "language": "zh-hans", "avatar": upload}
    )
    assert response.status_code == 200
    assert "avatar" in response.context["form"].errors
    member.refresh_from_db()
    assert not member.avatar


@pytest.mark.django_db
def test_settings_rejects_oversized_avatar(client, member):
    """A real image larger than 2 MB is refused and the avatar stays empty."""
    client.force_login(member)
    noise = Image.frombytes("RGB", (1100, 1100), os.urandom(1100 * 1100 * 3))
    buf = io.BytesIO()
    noise.save(buf, format="PNG", compress_level=0)
    data = buf.getvalue()
    assert len(data) > 2 * 1024 * 1024
    upload = SimpleUploadedFile("big.png", data, content_type="image/png")
    response = client.post(
        reverse("account_settings"), {"display_name": "Alice", "bio": "", "language": "zh-hans", "avatar": upload}
    )
    assert response.status_code == 200
    assert "2 MB" in str(response.context["form"].errors["avatar"])
    member.refresh_from_db()
    assert not member.avatar

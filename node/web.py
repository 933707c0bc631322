"""Member-facing web pages: sign-up, login, profile, settings and the operator's approval list."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from node.accounts import AccountError, approve_member, get_usable_invite, register_member
from node.forms import LoginForm, SettingsForm, SignupForm
from node.models import User


def _set_language_cookie(response: HttpResponse, language: str) -> None:
    """Remember a member's language in the cookie LocaleMiddleware reads."""
    if language in dict(settings.LANGUAGES):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE or "Lax",
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )


class LoginView(auth_views.LoginView):
    """Django's login with our form; the member's saved language becomes the page language."""

    form_class = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: LoginForm) -> HttpResponse:
        response = super().form_valid(form)
        _set_language_cookie(response, form.get_user().language)
        return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Sign-up page honouring ``NODE_REGISTRATION``: closed (403), invite (valid link needed) or approval."""
    mode = settings.NODE_REGISTRATION
    if mode not in ("invite", "approval"):
        return render(request, "node/signup_closed.html", {"reason": "closed"}, status=403)
    if request.user.is_authenticated:
        return redirect("home")
    invite_code = request.GET.get("invite", "") or request.POST.get("invite", "")
    if mode == "invite" and get_usable_invite(invite_code) is None:
        return render(request, "node/signup_closed.html", {"reason": "invite"}, status=403)

    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = register_member(
                data["username"],
                password=data["password1"],
                mode=mode,
                invite_code=invite_code,
                display_name=data["display_name"],
                real_name=data["real_name"],
                language=translation.get_language() or settings.LANGUAGE_CODE,
            )
        except AccountError as exc:
            if exc.field:
                form.add_error(exc.field, exc.message)
            else:
                return render(request, "node/signup_closed.html", {"reason": "invite"}, status=403)
        else:
            if mode == "approval":
                return render(request, "node/signup_pending.html", {"member": user})
            messages.success(request, _("Welcome! Your account is ready; please sign in."))
            return redirect("login")
    return render(request, "node/signup.html", {"form": form, "mode": mode, "invite_code": invite_code})


def profile(request: HttpRequest, username: str) -> HttpResponse:
    """A member's public page; the real name is shown only to the member and to operators."""
    member = get_object_or_404(User, username=username)
    viewer = request.user
    is_self = viewer.is_authenticated and viewer.pk == member.pk
    is_staff = viewer.is_authenticated and viewer.is_staff
    if not member.is_active and not is_staff:
        return render(request, "node/not_found.html", status=404)
    return render(
        request,
        "node/profile.html",
        {"member": member, "is_self": is_self, "show_private": is_self or is_staff},
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    """The signed-in member edits display name, bio, avatar and language."""
    user = request.user
    assert isinstance(user, User)
    form = SettingsForm(request.POST or None, request.FILES or None, instance=user)
    if request.method == "POST" and form.is_valid():
        form.save()
        translation.activate(user.language)
        messages.success(request, _("Your settings are saved."))
        response = HttpResponseRedirect(reverse("account_settings"))
        _set_language_cookie(response, user.language)
        return response
    return render(request, "node/settings.html", {"form": form})


@staff_member_required
def pending_members(request: HttpRequest) -> HttpResponse:
    """Operators: the members waiting for approval."""
    pending = User.objects.filter(awaiting_approval=True).order_by("date_joined")
    return render(request, "node/pending.html", {"pending": pending})


@staff_member_required
@require_POST
def approve(request: HttpRequest, user_id: int) -> HttpResponse:
    """Operators: approve one waiting member."""
    member = get_object_or_404(User, pk=user_id)
    approve_member(member)
    messages.success(request, _("%(name)s can now sign in.") % {"name": member.username})
    return redirect("pending_members")

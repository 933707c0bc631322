"""Forms of the member-facing pages: sign-up, login, settings (profile and avatar)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from node.accounts import AccountError, check_username
from node.models import User

AVATAR_MAX_BYTES = 2 * 1024 * 1024
AVATAR_MAX_SIDE = 4096
AVATAR_FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}


class SignupForm(forms.Form):
    """Self-service sign-up: a free name, public and private names, a password typed twice."""

    username = forms.CharField(
        label=_("Username"),
        max_length=30,
        help_text=_("1-30 characters: lower-case letters a-z, digits and underscores. It cannot be changed later."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}),
    )
    display_name = forms.CharField(label=_("Display name"), max_length=100, required=False)
    real_name = forms.CharField(
        label=_("Real name"),
        max_length=100,
        required=False,
        help_text=_("Private: only you and the node's operators can see it."),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password1"].help_text = password_validation.password_validators_help_text_html()

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        try:
            check_username(username)
        except AccountError as exc:
            raise forms.ValidationError(exc.message, code="username")
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords differ."))
        elif password1:
            candidate = User(
                username=cleaned.get("username", ""),
                display_name=cleaned.get("display_name", ""),
                real_name=cleaned.get("real_name", ""),
            )
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class LoginForm(AuthenticationForm):
    """Django's login form, telling members who await approval why they cannot sign in yet."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "awaiting_approval": _("Your account is waiting for an operator's approval. Please try again later."),
    }

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError:
            username = self.cleaned_data.get("username")
            password = self.cleaned_data.get("password")
            user = User.objects.filter(username=username, awaiting_approval=True).first() if username else None
            if user is not None and password and user.check_password(password):
                raise forms.ValidationError(self.error_messages["awaiting_approval"], code="awaiting_approval")
            raise


class SettingsForm(forms.ModelForm):
    """What a member edits about themself: display name, bio, avatar, language."""

    language = forms.ChoiceField(label=_("Language"), choices=())

    class Meta:
        model = User
        fields = ("display_name", "bio", "avatar", "language")
        labels = {"display_name": _("Display name"), "bio": _("About you"), "avatar": _("Avatar")}
        widgets = {"bio": forms.Textarea(attrs={"rows": 5})}
        help_texts = {"avatar": _("JPEG, PNG, GIF or WebP, at most 2 MB.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = list(settings.LANGUAGES)

    def clean_avatar(self) -> Any:
        """Accept only a real raster image (checked by Pillow) of at most 2 MB; store it under a random name."""
        from PIL import Image, UnidentifiedImageError  # imported on use, not at start (bench B12)

        avatar = self.cleaned_data.get("avatar")
        if not isinstance(avatar, UploadedFile):
            return avatar  # unchanged, or cleared
        if avatar.size is not None and avatar.size > AVATAR_MAX_BYTES:
            raise forms.ValidationError(_("The image is too large: at most 2 MB."), code="too_large")
        try:
            avatar.seek(0)
            with Image.open(avatar) as image:
                image_format = image.format or ""
                width, height = image.size
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise forms.ValidationError(_("This file is not an image we can use."), code="not_image")
        if image_format not in AVATAR_FORMATS:
            raise forms.ValidationError(_("Use a JPEG, PNG, GIF or WebP image."), code="format")
        if width > AVATAR_MAX_SIDE or height > AVATAR_MAX_SIDE:
            raise forms.ValidationError(_("The image is too large: at most 4096 × 4096 pixels."), code="too_big")
        avatar.seek(0)
        # A random name: the uploaded file name may say more than the member meant to share.
        avatar.name = f"{uuid.uuid4().hex}.{AVATAR_FORMATS[image_format]}"
        return avatar

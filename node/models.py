"""Accounts of this node's members (real-name) and operators (Django staff)."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

USERNAME_RE = r"^[a-z0-9_]{1,30}$"
username_validator = RegexValidator(
    USERNAME_RE,
    _("Use 1-30 characters: lower-case letters a-z, digits and underscores."),
)


class User(AbstractUser):
    """A member of this node. ``username`` shares one namespace with groups (see federation actors).

    ``real_name`` is private: shown only to the member, operators and (later) group officers.
    """

    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]

    username = models.CharField(
        _("username"),
        max_length=30,
        unique=True,
        validators=[username_validator],
        help_text=_("1-30 characters: lower-case letters a-z, digits and underscores."),
        error_messages={"unique": _("That name is already taken.")},
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    real_name = models.CharField(_("real name"), max_length=100, blank=True)
    email = models.EmailField(_("email address"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    avatar = models.ImageField(_("avatar"), upload_to="avatars/", blank=True)
    bio = models.TextField(_("bio"), blank=True, max_length=5000)
    language = models.CharField(_("language"), max_length=16, default="zh-hans")
    awaiting_approval = models.BooleanField(
        _("awaiting approval"),
        default=False,
        help_text=_("Signed up on a node with approval registration; inactive until an operator approves."),
    )

    objects = UserManager()

    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")

    def __str__(self) -> str:
        return self.username

    @property
    def shown_name(self) -> str:
        """The public name: the display name, or the username when none is set."""
        return self.display_name or self.username


def _new_invite_code() -> str:
    return secrets.token_urlsafe(16)


class Invite(models.Model):
    """An invitation link (``/accounts/signup?invite=<code>``) usable ``max_uses`` times until ``expires_at``."""

    code = models.CharField(_("code"), max_length=64, unique=True, default=_new_invite_code)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invites", verbose_name=_("created by")
    )
    max_uses = models.PositiveIntegerField(_("maximum uses"), default=1)
    uses = models.PositiveIntegerField(_("uses"), default=0)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("invite")
        verbose_name_plural = _("invites")

    def __str__(self) -> str:
        return self.code

    def is_usable(self, now: datetime | None = None) -> bool:
        """True when the invite has uses left and has not expired."""
        now = now or timezone.now()
        if self.uses >= self.max_uses:
            return False
        return self.expires_at is None or self.expires_at > now

"""Accounts of this node's members (real-name) and operators (Django staff)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
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

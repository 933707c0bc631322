"""Account services: the only write path for members (web sign-up, admin, CLI) and invites.

Every member owns a federation ``Person`` actor created in the same transaction, so a name is
never half-taken: either both rows exist or neither does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.actors import NameTaken, create_local_actor, name_available
from node.models import Invite, User, username_validator


class AccountError(ValueError):
    """A member could not be created or changed; ``str(error)`` is a message a person can act on."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InviteInvalid(AccountError):
    """The invite code is unknown, used up or expired."""


def _name_taken_message() -> str:
    return _("That name is already taken by a member or a group.")


def check_username(username: str) -> None:
    """Raise :class:`AccountError` unless ``username`` is well-formed and free for a new member or group."""
    try:
        username_validator(username)
    except ValidationError:
        raise AccountError(_("Use 1-30 characters: lower-case letters a-z, digits and underscores."), field="username")
    if User.objects.filter(username=username).exists() or not name_available(username):
        raise AccountError(_name_taken_message(), field="username")


def create_member(
    username: str,
    *,
    display_name: str = "",
    real_name: str = "",
    email: str = "",
    phone: str = "",
    password: str | None = None,
    is_staff: bool = False,
    language: str = "zh-hans",
    is_superuser: bool = False,
    is_active: bool = True,
    awaiting_approval: bool = False,
) -> User:
    """Create a member and its federation ``Person`` actor in one transaction.

    ``password=None`` leaves the account without a usable password. Raises :class:`AccountError`
    (nothing stored) when the name is malformed, reserved, or held by a member, group or the node.
    """
    username = (username or "").strip()
    check_username(username)
    try:
        with transaction.atomic():
            user = User(
                username=username,
                display_name=display_name,
                real_name=real_name,
                email=email,
                phone=phone,
                is_staff=is_staff or is_superuser,
                is_superuser=is_superuser,
                is_active=is_active,
                awaiting_approval=awaiting_approval,
                language=language,
            )
            if password is None:
                user.set_unusable_password()
            else:
                user.set_password(password)
            user.save()
            create_local_actor(username=username, user=user, name=display_name)
    except (NameTaken, IntegrityError):
        # Lost a race with another sign-up, or a group took the name in between.
        raise AccountError(_name_taken_message(), field="username")
    return user


def register_member(
    username: str,
    *,
    password: str,
    mode: str,
    invite_code: str = "",
    display_name: str = "",
    real_name: str = "",
    language: str = "zh-hans",
) -> User:
    """Self-service sign-up under registration ``mode`` (``invite`` or ``approval``).

    ``invite``: the invite must be usable; its use is counted in the same transaction.
    ``approval``: the account is created inactive and awaiting approval.
    Raises :class:`AccountError` / :class:`InviteInvalid`; nothing is stored on error.
    """
    if mode not in ("invite", "approval"):
        raise AccountError(_("Registration is closed on this node."))
    fields: dict[str, Any] = {
        "display_name": display_name,
        "real_name": real_name,
        "password": password,
        "language": language,
    }
    with transaction.atomic():
        if mode == "invite":
            invite = Invite.objects.select_for_update().filter(code=invite_code).first() if invite_code else None
            if invite is None or not invite.is_usable():
                raise InviteInvalid(_("This invitation link is not valid: it is unknown, used up or expired."))
            user = create_member(username, **fields)
            invite.uses += 1
            invite.save(update_fields=["uses"])
            return user
        return create_member(username, is_active=False, awaiting_approval=True, **fields)


def approve_member(user: User) -> User:
    """Activate a member who signed up on an approval node; harmless when already approved."""
    if not user.is_active or user.awaiting_approval:
        user.is_active = True
        user.awaiting_approval = False
        user.save(update_fields=["is_active", "awaiting_approval"])
    return user


def create_invite(
    created_by: User | None,
    *,
    max_uses: int = 1,
    expires_in_days: int | None = 7,
    expires_at: datetime | None = None,
) -> Invite:
    """Create an invite usable ``max_uses`` times (at least 1).

    It expires at ``expires_at`` when given, else after ``expires_in_days`` days (None: never).
    """
    if max_uses < 1:
        raise AccountError(_("An invite must allow at least one use."))
    if expires_at is None and expires_in_days is not None:
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    return Invite.objects.create(created_by=created_by, max_uses=max_uses, expires_at=expires_at)


def get_usable_invite(code: str) -> Invite | None:
    """The invite with ``code`` when it can still be used, else None."""
    if not code:
        return None
    invite = Invite.objects.filter(code=code).first()
    return invite if invite is not None and invite.is_usable() else None

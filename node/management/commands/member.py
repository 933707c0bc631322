"""Operator CLI for members: ``member create``, ``member token``, ``member list``.

Every write goes through :mod:`node.accounts` (the one write path for members); tokens are
django-oauth-toolkit access tokens, the same kind the client API accepts.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application
from oauth2_provider.settings import oauth2_settings

from node.accounts import AccountError, create_member

CLI_APPLICATION_NAME = "Redcloud operator CLI"
DEFAULT_SCOPES = "read write follow"


def random_password() -> str:
    """A random password of about 96 bits, easy to copy (URL-safe characters only)."""
    return secrets.token_urlsafe(16)


def cli_application() -> Application:
    """The confidential OAuth application that owns tokens issued from the command line."""
    app = Application.objects.filter(name=CLI_APPLICATION_NAME).order_by("pk").first()
    if app is not None:
        return app
    return Application.objects.create(
        name=CLI_APPLICATION_NAME,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="urn:ietf:wg:oauth:2.0:oob",
        client_secret=generate_client_secret(),
        skip_authorization=True,
    )


def issue_token(user: Any, scopes: str) -> str:
    """Store a long-lived access token for ``user`` with ``scopes`` and return its bearer string.

    Raises :class:`CommandError` when a scope is not one the node knows.
    """
    wanted = scopes.split()
    known = set(oauth2_settings.SCOPES)
    unknown = [scope for scope in wanted if scope not in known]
    if not wanted or unknown:
        raise CommandError(
            f"Unknown scope(s): {' '.join(unknown) or '(none given)'}; choose from: {' '.join(sorted(known))}."
        )
    token = secrets.token_urlsafe(40)
    with transaction.atomic():
        AccessToken.objects.create(
            user=user,
            application=cli_application(),
            token=token,
            expires=timezone.now() + timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
            scope=" ".join(dict.fromkeys(wanted)),
        )
    return token


class Command(BaseCommand):
    help = "Manage members: create, issue an API token, list."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,token,list}")
        create = sub.add_parser("create", help="Create a member (and its federation actor).")
        create.add_argument("username")
        create.add_argument("--name", default="", help="Display name.")
        create.add_argument("--real-name", default="", help="Real name (private).")
        create.add_argument("--email", default="")
        create.add_argument("--phone", default="")
        secret = create.add_mutually_exclusive_group()
        secret.add_argument("--password", default=None)
        secret.add_argument("--random-password", action="store_true", help="Generate one and print it once.")
        create.add_argument("--staff", action="store_true", help="Make the member an operator (staff).")
        token = sub.add_parser("token", help="Print a new bearer token for the client API (only the token).")
        token.add_argument("username")
        token.add_argument("--scopes", default=DEFAULT_SCOPES, help=f'Space-separated, default "{DEFAULT_SCOPES}".')
        listing = sub.add_parser("list", help="List members.")
        listing.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        password = random_password() if options["random_password"] else options["password"]
        try:
            user = create_member(
                options["username"],
                display_name=options["name"],
                real_name=options["real_name"],
                email=options["email"],
                phone=options["phone"],
                password=password,
                is_staff=options["staff"],
                language=settings.LANGUAGE_CODE,
            )
        except AccountError as exc:
            raise CommandError(f"Cannot create member {options['username']!r}: {exc}")
        self.stdout.write(f"Created member {user.username}" + (" (staff)" if user.is_staff else ""))
        if options["random_password"]:
            self.stdout.write(f"Password (shown once): {password}")

    def _token(self, options: dict[str, Any]) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No member named {options['username']!r} on this node.")
        if not user.is_active:
            raise CommandError(f"Member {user.username!r} is not active; activate the account first.")
        self.stdout.write(issue_token(user, options["scopes"]))

    def _list(self, options: dict[str, Any]) -> None:
        rows: list[dict[str, Any]] = [
            {
                "username": user.username,
                "display_name": user.display_name,
                "staff": user.is_staff,
                "active": user.is_active,
                "joined": user.date_joined.isoformat(),
            }
            for user in get_user_model().objects.order_by("date_joined", "pk")
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        if not rows:
            self.stdout.write("No members.")
            return
        self.stdout.write(f"{'USERNAME':<20} {'DISPLAY NAME':<24} {'STAFF':<5} {'ACTIVE':<6} JOINED")
        for row in rows:
            self.stdout.write(
                f"{row['username']:<20} {row['display_name'][:24]:<24} {'yes' if row['staff'] else 'no':<5} "
                f"{'yes' if row['active'] else 'no':<6} {row['joined'][:19]}"
            )

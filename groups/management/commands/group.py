"""Operator CLI for groups: ``group create|members|approve|reject``.

python manage.py group create NAME --name "Display" --kind branch --secretary USER
python manage.py group members NAME [--pending]
python manage.py group approve NAME ACCT     (ACCT: user or user@domain)
python manage.py group reject NAME ACCT
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from federation.models import Actor
from groups import directory, services
from groups.models import Group


def _group(name: str) -> Group:
    try:
        return directory.get_local_group(name)
    except Group.DoesNotExist as exc:
        raise CommandError(f"no group {name!r} on this node") from exc


def _account(acct: str) -> Actor:
    acct = acct.strip().removeprefix("acct:").lstrip("@")
    user, _, domain = acct.partition("@")
    rows = Actor.objects.filter(username__iexact=user)
    rows = rows.filter(domain__iexact=domain) if domain else rows.filter(local=True)
    actor = rows.first()
    if actor is None:
        raise CommandError(f"no known account {acct!r}")
    return actor


class Command(BaseCommand):
    help = "Manage groups (virtual branches): create, list members, approve or reject join requests."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a group")
        create.add_argument("group")
        create.add_argument("--name", default="", help="display name")
        create.add_argument("--kind", default="branch", help=f"one of {', '.join(settings.GROUPS_KINDS)}")
        create.add_argument("--secretary", required=True, help="username of the local member who leads it")
        create.add_argument("--parent", default="", help="name of the parent group on this node")
        create.add_argument("--description", default="")
        create.add_argument("--public", action="store_true", help="posts visible to non-members")
        members = sub.add_parser("members", help="list members (with --pending: requests)")
        members.add_argument("group")
        members.add_argument("--pending", action="store_true")
        for verb in ("approve", "reject"):
            p = sub.add_parser(verb, help=f"{verb} a pending join request")
            p.add_argument("group")
            p.add_argument("acct", help="user (local) or user@domain")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options)
        elif action == "members":
            group = _group(options["group"])
            rows = services.pending_requests(group) if options["pending"] else services.active_members(group)
            for m in rows:
                joined = m.joined_at.date().isoformat() if m.joined_at else "-"
                verified = "verified" if m.real_name_verified else ""
                self.stdout.write(f"{m.actor.handle}\t{m.role}\t{m.state}\t{joined}\t{verified}".rstrip())
        else:
            group = _group(options["group"])
            member = _account(options["acct"])
            fn = services.approve if action == "approve" else services.reject
            try:
                fn(group, member, by=None)
            except services.GroupError as exc:
                raise CommandError(f"{member.handle}: {exc}") from exc
            self.stdout.write(f"{action.rstrip('e')}ed {member.handle} in {group.actor.username}")

    def _create(self, options: dict[str, Any]) -> None:
        secretary = Actor.objects.filter(local=True, username=options["secretary"], user__isnull=False).first()
        if secretary is None:
            raise CommandError(f"no local member {options['secretary']!r}")
        parent = _group(options["parent"]) if options["parent"] else None
        try:
            group = services.create_group(
                options["group"],
                display_name=options["name"] or options["group"],
                kind=options["kind"],
                secretary=secretary,
                parent=parent,
                description=options["description"],
                members_only=not options["public"],
            )
        except services.GroupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"created group {group.actor.handle} ({group.actor.ap_id})")

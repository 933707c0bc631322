"""Operator CLI for federation: lookup, follow/unfollow, deliveries, retry, block/unblock, rotate-key.

manage.py federation lookup ACCT|URL
manage.py federation follow LOCAL_USER ACCT|URL
manage.py federation unfollow LOCAL_USER ACCT|URL
manage.py federation deliveries [--state pending|delivered|failed|cancelled] [--limit N]
manage.py federation retry DOMAIN
manage.py federation block DOMAIN [--reason TEXT]
manage.py federation unblock DOMAIN
manage.py federation rotate-key USER
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from federation.delivery import retry_domain
from federation.follows import FollowError, follow, unfollow
from federation.keyrotation import rotate_key
from federation.lookup import ActorNotFound, resolve_handle
from federation.models import Actor, Delivery, DeliveryState, Follow
from federation.policy import block_domain, unblock_domain


class Command(BaseCommand):
    help = "Federation operations: lookup, follow, deliveries, retry, block, rotate-key."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        p = sub.add_parser("lookup", help="WebFinger + signed fetch; prints the actor document")
        p.add_argument("target")
        for name in ("follow", "unfollow"):
            p = sub.add_parser(name, help=f"{name} a remote or local account as LOCAL_USER")
            p.add_argument("local_user")
            p.add_argument("target")
        p = sub.add_parser("deliveries", help="list outgoing deliveries")
        p.add_argument("--state", choices=[s.value for s in DeliveryState], default=None)
        p.add_argument("--limit", type=int, default=50)
        p = sub.add_parser("retry", help="retry every failed or pending delivery to DOMAIN now")
        p.add_argument("domain")
        p = sub.add_parser("block", help="block DOMAIN and its subdomains")
        p.add_argument("domain")
        p.add_argument("--reason", default="")
        p = sub.add_parser("unblock", help="lift a domain block")
        p.add_argument("domain")
        p = sub.add_parser("rotate-key", help="give USER a new key pair and announce it with Update")
        p.add_argument("user")

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        try:
            getattr(self, "do_" + action.replace("-", "_"))(opts)
        except ActorNotFound as exc:
            raise CommandError(str(exc)) from exc
        except (FollowError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

    def _local(self, username: str) -> Actor:
        actor = Actor.objects.filter(local=True, username=username).first()
        if actor is None:
            raise CommandError(f"No local account or group named {username!r}.")
        return actor

    def do_lookup(self, opts: dict[str, Any]) -> None:
        actor = resolve_handle(opts["target"], refresh=True)
        doc = actor.data if not actor.local else {"id": actor.ap_id, "type": actor.type, "local": True}
        self.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False))

    def do_follow(self, opts: dict[str, Any]) -> None:
        row = follow(self._local(opts["local_user"]), resolve_handle(opts["target"]))
        self.stdout.write(f"{opts['local_user']} -> {row.target.handle}: {row.state}")

    def do_unfollow(self, opts: dict[str, Any]) -> None:
        done = unfollow(self._local(opts["local_user"]), resolve_handle(opts["target"]))
        self.stdout.write("unfollowed" if done else "was not following")

    def do_deliveries(self, opts: dict[str, Any]) -> None:
        rows = Delivery.objects.select_related("activity").order_by("-pk")
        if opts["state"]:
            rows = rows.filter(state=opts["state"])
        for d in rows[: opts["limit"]]:
            self.stdout.write(
                f"{d.pk}\t{d.state}\t{d.activity.type}\t{d.inbox_url}\tattempts={d.attempts}\t"
                f"next={d.next_attempt_at:%Y-%m-%d %H:%M:%S}\t{d.last_status or ''}\t{d.last_error[:80]}"
            )

    def do_retry(self, opts: dict[str, Any]) -> None:
        count = retry_domain(opts["domain"])
        self.stdout.write(f"{count} deliveries to {opts['domain']} queued for retry")

    def do_block(self, opts: dict[str, Any]) -> None:
        domain = block_domain(opts["domain"], reason=opts["reason"])
        self.stdout.write(f"blocked {domain.host} (and its subdomains)")

    def do_unblock(self, opts: dict[str, Any]) -> None:
        self.stdout.write("unblocked" if unblock_domain(opts["domain"]) else "was not blocked")

    def do_rotate_key(self, opts: dict[str, Any]) -> None:
        actor = rotate_key(self._local(opts["user"]))
        followers = Follow.objects.filter(target=actor, state="accepted").count()
        self.stdout.write(f"new key for {actor.handle}; Update sent towards {followers} followers")

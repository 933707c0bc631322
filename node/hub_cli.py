"""The hub subcommands of ``manage.py node``: ``join-hub``, ``leave-hub``, ``hub-approve``,
``hub-reject`` and ``hub-list`` (mixed into ``node/management/commands/node.py``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from node import hub
from node.models import NodeRelation, RelationDirection

HUB_ACTIONS = ("join-hub", "leave-hub", "hub-approve", "hub-reject", "hub-list")


def add_hub_arguments(sub: Any) -> None:
    """Add the hub subcommands to the ``node`` command's subparsers."""
    join = sub.add_parser("join-hub", help="Ask the parent hub (NODE_PARENT) to take this node as a child.")
    join.add_argument("--parent", default=None, help="Parent URL (default: NODE_PARENT).")
    sub.add_parser("leave-hub", help="Leave the parent hub (Undo{Follow}).")
    approve = sub.add_parser("hub-approve", help="Accept a pending child node by its domain.")
    approve.add_argument("domain")
    reject = sub.add_parser("hub-reject", help="Refuse or remove a child node by its domain.")
    reject.add_argument("domain")
    sub.add_parser("hub-list", help="The parent and the children of this node.")


def _line(rel: NodeRelation) -> str:
    since = rel.since.isoformat(timespec="seconds") if rel.since else "-"
    seen = rel.last_seen_at.isoformat(timespec="seconds") if rel.last_seen_at else "-"
    return f"{rel.direction:<6} {rel.domain:<30} {rel.state:<9} {rel.kind:<5} since {since}  last seen {seen}"


class HubCommands:
    """Methods ``_join_hub``... dispatched by the ``node`` command's ``handle``."""

    stdout: Any

    def _join_hub(self, options: dict[str, Any]) -> None:
        try:
            rel = hub.join_hub(options.get("parent"))
        except hub.HubError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Parent {rel.domain}: {rel.state}" + (" (waiting for its operator)" if rel.state == "pending" else "")
        )

    def _leave_hub(self, options: dict[str, Any]) -> None:
        rel = hub.leave_hub()
        self.stdout.write(f"Left {rel.domain}." if rel else "This node has no parent hub; nothing to leave.")

    def _child(self, domain: str) -> NodeRelation:
        try:
            rel = hub.find_child(domain)
        except ValueError as exc:
            raise CommandError(f"{domain!r} is not a domain") from exc
        if rel is None:
            raise CommandError(f"No child request from {domain}.")
        return rel

    def _hub_approve(self, options: dict[str, Any]) -> None:
        try:
            rel = hub.approve_child(self._child(options["domain"]))
        except hub.HubError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Child {rel.domain}: {rel.state}")

    def _hub_reject(self, options: dict[str, Any]) -> None:
        rel = hub.reject_child(self._child(options["domain"]))
        self.stdout.write(f"Child {rel.domain}: {rel.state}")

    def _hub_list(self, options: dict[str, Any]) -> None:
        rows = NodeRelation.objects.order_by("direction", "domain")
        parent = [r for r in rows if r.direction == RelationDirection.PARENT]
        kids = [r for r in rows if r.direction == RelationDirection.CHILD]
        lines = [_line(r) for r in parent + kids] or ["No parent and no children."]
        self.stdout.write("\n".join(lines))

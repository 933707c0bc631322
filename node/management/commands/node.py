"""Operator CLI for the node itself: ``node status``, ``node init``, ``node firstrun``, and the hub's
``join-hub``, ``leave-hub``, ``hub-approve``, ``hub-reject``, ``hub-list`` (``node/hub_cli.py``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from federation.actors import get_instance_actor, name_available
from node.accounts import AccountError, create_member
from node.config import ROLES, ConfigError, load
from node.envfile import write_env_file
from node.hub_cli import HUB_ACTIONS, HubCommands, add_hub_arguments
from node.management.commands.member import random_password
from node.status import collect_status

OPERATOR_NAMES = ("operator", "operator1", "operator2", "nodeadmin")
PASSWORD_FILE = "operator-password.txt"  # noqa: S105 - a file name, not a password


def _ask(label: str, default: str) -> str:
    answer = input(f"{label} [{default}]: " if default else f"{label}: ").strip()
    return answer or default


class Command(HubCommands, BaseCommand):
    help = "Node operations: status, init (write an env file), firstrun (instance actor + operator account)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = ",".join(("status", "init", "firstrun", *HUB_ACTIONS, "report"))
        sub = parser.add_subparsers(dest="action", required=True, metavar=f"{{{actions}}}")
        status = sub.add_parser("status", help="Identity, database and broker reachability, queue depths.")
        status.add_argument("--json", action="store_true")
        init = sub.add_parser("init", help="Write the node's env file (asks for what the flags do not give).")
        init.add_argument("--domain")
        init.add_argument("--name")
        init.add_argument("--role", help=f"One of: {', '.join(ROLES)}.")
        init.add_argument("--region", help="6-digit administrative division code.")
        init.add_argument("--parent", help="URL of the parent hub (not for a province).")
        init.add_argument("--env-file", default=None, help="Default: <var>/node.env.")
        init.add_argument("--force", action="store_true", help="Overwrite an existing env file.")
        init.add_argument("--no-input", action="store_true", help="Never prompt; use defaults for missing flags.")
        sub.add_parser("firstrun", help="Idempotent first start: instance actor, operator account.")
        add_hub_arguments(sub)
        report = sub.add_parser("report", help="Compute today's statistics report and send it to the parent hub.")
        report.add_argument("--period", help="Day to report (YYYY-MM-DD); default today.")
        report.add_argument("--json", action="store_true", help="Print the report document as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action'].replace('-', '_')}")(options)

    # -- status ---------------------------------------------------------------------------------
    def _status(self, options: dict[str, Any]) -> None:
        report = collect_status()
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
            return
        node = report["node"]
        lines = [
            f"Node      {node['name']} ({node['role']}, region {node['region_code']})",
            f"Domain    {node['domain']}  {node['base_url']}",
            f"Parent    {node['parent'] or '-'}",
            f"Version   {node['version']}" + ("  [devnet]" if node["devnet"] else ""),
            f"Database  {'ok' if report['database']['ok'] else 'UNREACHABLE'}: {report['database']['detail']}",
            f"Broker    {'ok' if report['broker']['ok'] else 'UNREACHABLE'}: {report['broker']['detail']}",
            f"Queues    broker ({report['queues']['broker']['method']}):",
        ]
        for queue, depth in report["queues"]["broker"]["depths"].items():
            lines.append(f"            {queue:<10} {'n/a' if depth is None else depth}")
        durable = report["queues"]["durable"]
        if durable is None:
            lines.append(f"          durable: n/a {report['queues'].get('durable_error', '')}".rstrip())
        else:
            lines.append("          durable (database):")
            lines.extend(f"            {key:<20} {value}" for key, value in durable.items())
        self.stdout.write("\n".join(lines))
        if not (report["database"]["ok"] and report["broker"]["ok"]):
            raise CommandError("The node is not healthy (see above).")

    # -- init -----------------------------------------------------------------------------------
    def _init(self, options: dict[str, Any]) -> None:
        path = Path(options["env_file"] or Path(settings.NODE_VAR_DIR) / "node.env")
        if path.exists() and not options["force"]:
            raise CommandError(f"{path} exists; pass --force to overwrite it.")
        interactive = not options["no_input"] and sys.stdin.isatty()
        values = {
            "NODE_DOMAIN": options["domain"],
            "NODE_NAME": options["name"],
            "NODE_ROLE": options["role"],
            "NODE_REGION_CODE": options["region"],
            "NODE_PARENT": options["parent"],
        }
        defaults = {
            "NODE_DOMAIN": "127.0.0.1:8000",
            "NODE_NAME": "",
            "NODE_ROLE": "county",
            "NODE_REGION_CODE": "000000",
            "NODE_PARENT": "",
        }
        labels = {
            "NODE_DOMAIN": "Domain (host[:port], no scheme)",
            "NODE_NAME": "Node name",
            "NODE_ROLE": f"Role ({'/'.join(ROLES)})",
            "NODE_REGION_CODE": "Region code (6 digits)",
            "NODE_PARENT": "Parent hub URL (empty for none)",
        }
        for key, value in values.items():
            if value is None:
                values[key] = _ask(labels[key], defaults[key]) if interactive else defaults[key]
        if values["NODE_ROLE"] == "province" and options["parent"] is None:
            values["NODE_PARENT"] = ""
        env = {key: value.strip() for key, value in values.items() if value and value.strip()}
        try:
            # A throw-away secret keeps load() from generating one as a side effect of validation.
            load({**env, "SECRET_KEY": "validation-only-" + "x" * 40}, Path(settings.BASE_DIR))
        except ConfigError as exc:
            raise CommandError(f"Invalid node configuration: {exc}")
        write_env_file(path, env, header="Redcloud node settings, written by `manage.py node init`.")
        self.stdout.write(f"Wrote {path}")
        self.stdout.write("`make run` reads it (settings load <var>/node.env, or NODE_ENV_FILE=<path>).")

    # -- firstrun -------------------------------------------------------------------------------
    def _firstrun(self, options: dict[str, Any]) -> None:
        get_instance_actor()
        password_file = Path(settings.NODE_VAR_DIR) / PASSWORD_FILE
        login_url = f"{settings.NODE_BASE_URL}{reverse('login')}"
        users = get_user_model().objects
        if users.filter(is_staff=True).exists():
            self.stdout.write(f"Log in at {login_url}")
            if password_file.exists():
                self.stdout.write(f"The first operator's password is in {password_file}")
            return
        username = next((name for name in OPERATOR_NAMES if name_available(name)), None)
        if username is None:
            raise CommandError(f"None of {', '.join(OPERATOR_NAMES)} is free; create one with `member create --staff`.")
        password = random_password()
        try:
            create_member(
                username,
                display_name="Operator",
                password=password,
                is_staff=True,
                is_superuser=True,
                language=settings.LANGUAGE_CODE,
            )
        except AccountError as exc:
            raise CommandError(f"Cannot create the operator account {username!r}: {exc}")
        password_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"username: {username}\npassword: {password}\n")
        os.chmod(password_file, 0o600)
        self.stdout.write(f"Created the operator account {username!r} with password: {password}")
        self.stdout.write(f"(also saved in {password_file}, readable only by you)")
        self.stdout.write(f"Log in at {login_url}")

    # -- report (node/stats.py) -----------------------------------------------------------------
    def _report(self, options: dict[str, Any]) -> None:
        from django.utils.dateparse import parse_date

        from node.stats import parent_inbox, send_report

        period = parse_date(options["period"]) if options.get("period") else None
        if options.get("period") and period is None:
            raise CommandError(f"--period {options['period']!r} is not a date (YYYY-MM-DD).")
        row = send_report(period)
        if options["json"]:
            self.stdout.write(json.dumps(row.payload, ensure_ascii=False, indent=2))
            return
        total = row.payload["redcloud:total"]
        inbox = parent_inbox()
        self.stdout.write(
            f"Report {row.period} of {row.node_domain}: {total['members']['total']} members, "
            f"{total['posts']} posts, {len(row.payload['redcloud:children'])} children included; "
            + (f"sent to {inbox}." if inbox else "no parent, stored here only.")
        )

"""``manage.py devnet_sample``: load the federation demo's sample data into this node (see :mod:`node.demo`)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from node.demo import DemoError, load_county_sample


class Command(BaseCommand):
    help = "Load sample members, groups, posts (Chinese, English, Tibetan), a poll, an event and a course."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--place", required=True, help="The county's name, e.g. 五华区.")
        parser.add_argument("--offset", type=int, default=0, help="Pick other sample people (counties differ).")
        parser.add_argument("--json", action="store_true", help="Print what was made as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sample = load_county_sample(options["place"], offset=options["offset"])
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(sample.as_dict(), ensure_ascii=False))
            return
        self.stdout.write(
            f"{sample.place}: members {', '.join(sample.members)}; groups {sample.branch}, {sample.open_group}; "
            f"{len(sample.public_posts)} public posts, a poll, an event, a course."
        )

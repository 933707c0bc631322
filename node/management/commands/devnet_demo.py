"""``manage.py devnet_demo`` (``make federation-demo``): the federation demo of :mod:`node.devnet_demo`,
running until Ctrl-C; everything it started is stopped on the way out."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from node.devnet import Devnet, DevnetError, parse_nodes
from node.devnet_demo import DEMO_NODES, node_env, run_demo, summary


class Command(BaseCommand):
    help = "Start a province hub, two prefectures and three counties with sample data; run until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-port", type=int, default=8200, help="First port; nodes count up from it (0: any free ports)."
        )
        parser.add_argument("--dir", default=None, help="Working folder (default: <var>/federation-demo).")
        parser.add_argument("--timeout", type=float, default=120.0, help="Seconds to wait for the aggregation.")
        parser.add_argument("--once", action="store_true", help="Stop once the demo is set up (for tests).")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["dir"] or Path(settings.NODE_VAR_DIR) / "federation-demo")
        stop_requested = threading.Event()

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # during set-up: the finally below stops what was started

        signal.signal(signal.SIGTERM, interrupt)
        devnet = Devnet(
            DEMO_NODES,
            directory=directory,
            base_port=options["base_port"] or None,
            database_url=os.environ.get("DEVNET_DATABASE_URL"),
            redis_url=os.environ.get("DEVNET_REDIS_URL"),
            node_env=node_env(parse_nodes(DEMO_NODES)),
            extra_env={"FEDERATION_TIME_SCALE": "0.05"},  # retries in seconds, a report every 72 minutes
            startup_timeout=180,
            log=lambda message: self.stderr.write(message),
        )
        try:
            try:
                devnet.start()
                self.stderr.write(f"{len(devnet.nodes)} nodes up in {devnet.started_in:.1f}s")
                state = run_demo(devnet, self.stderr.write, timeout=options["timeout"])
            except DevnetError as exc:
                raise CommandError(f"{exc}\nLogs: {directory}/<node>/*.log") from exc
            except KeyboardInterrupt:
                raise CommandError("Interrupted during set-up; every process started was stopped.") from None
            self.stdout.write(f"Federation demo ready in {state.aggregated_in:.0f}s after start-up.")
            self.stdout.write("\n".join(summary(devnet, state)))
            if options["once"]:
                return
            self.stdout.write("Ctrl-C stops every node.")
            signal.signal(signal.SIGINT, lambda signum, frame: stop_requested.set())
            signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.set())
            devnet.watch(stop_requested, self.stderr.write)
        finally:
            self.stdout.write("Stopping the demo...")
            began = time.monotonic()
            devnet.stop()
            self.stdout.write(f"Stopped in {time.monotonic() - began:.1f}s.")

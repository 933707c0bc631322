"""``manage.py devnet``: run several nodes on loopback until Ctrl-C (see :mod:`node.devnet`)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from node.devnet import Devnet, DevnetError

DEFAULT_NODES = "province:province,kunming:prefecture,county-a:county:kunming,county-b:county"


class Command(BaseCommand):
    help = "Start a local network of nodes (separate processes on 127.0.0.1) and keep it running until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--nodes", default=DEFAULT_NODES, help="name:role[:parent],... (default: %(default)s)")
        parser.add_argument("--base-port", type=int, default=8100, help="First port; nodes count up from it.")
        parser.add_argument("--dir", default=None, help="Working folder (default: <var>/devnet).")
        parser.add_argument("--web", choices=("gunicorn", "runserver"), default="gunicorn", help="Web server per node.")
        parser.add_argument("--timeout", type=float, default=90.0, help="Seconds to wait for every /healthz.")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["dir"] or Path(settings.NODE_VAR_DIR) / "devnet")
        stop_requested = threading.Event()

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # during start-up: Devnet.start() stops what it started

        def request_stop(signum: int, frame: object) -> None:
            stop_requested.set()

        signal.signal(signal.SIGTERM, interrupt)
        try:
            devnet = Devnet(
                options["nodes"],
                directory=directory,
                base_port=options["base_port"],
                database_url=os.environ.get("DEVNET_DATABASE_URL"),
                redis_url=os.environ.get("DEVNET_REDIS_URL"),
                web_server=options["web"],
                startup_timeout=options["timeout"],
                log=lambda message: self.stderr.write(message),
            )
            devnet.start()
        except DevnetError as exc:
            raise CommandError(str(exc))
        except KeyboardInterrupt:
            raise CommandError("Interrupted during start-up; every process started was stopped.")
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            self.stdout.write(f"{len(devnet.nodes)} nodes up in {devnet.started_in:.1f}s (Ctrl-C stops them all):")
            for node in devnet.nodes.values():
                self.stdout.write(
                    f"  {node.name:<12} {node.role:<10} {node.base_url:<24} parent={node.parent or '-':<12} "
                    f"logs={node.var_dir}/"
                )
            self.stdout.write(f"Manifest: {directory.resolve() / 'nodes.json'}")
            self.stdout.write(f"Run a command on a node: NODE_ENV_FILE={directory.resolve()}/<name>.env manage.py ...")
            devnet.watch(stop_requested, self.stderr.write)
        finally:
            self.stdout.write("Stopping the devnet...")
            began = time.monotonic()
            devnet.stop()
            self.stdout.write(f"Stopped in {time.monotonic() - began:.1f}s.")

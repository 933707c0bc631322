"""The Celery application.

A county node runs one worker process for every queue, with beat as a thread inside it:
``celery -A node worker -P threads --concurrency 8 -Q inbox,deliver,fanout,media,default --beat-thread``.
``--beat-thread`` (added here) differs from Celery's ``-B`` only in running the embedded beat
as a thread instead of a forked child process, which would hold a second copy of Django
(about 80 MB resident; bench B12). Large nodes may run ``celery -A node beat`` apart instead.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, bootsteps, signals
from celery.exceptions import ImproperlyConfigured
from click import Option

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "node.settings")

app = Celery("redcloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Database connections in the worker. Celery's Django fixup closes every connection before and
# after every task unless ``CELERY_DB_REUSE_MAX`` is set: a fresh PostgreSQL connection per
# task (3-5 ms of connect and authentication; a third of the worker's time while the hub drains
# a backlog, bench B6). The fixup is told to (practically) never force-close; instead, like
# Django after a request, each task ends with ``close_old_connections()``, which keeps a
# healthy connection for ``CONN_MAX_AGE`` and drops one that failed or left a transaction
# open. The worker also turns on ``CONN_HEALTH_CHECKS`` (one ``SELECT 1`` when a task first
# uses a reused connection), so a database restart costs no task an error.
app.conf["CELERY_DB_REUSE_MAX"] = 2**62


@signals.worker_init.connect
def _worker_health_checks(**_: Any) -> None:
    from django.conf import settings

    for alias in settings.DATABASES.values():
        if alias.get("CONN_MAX_AGE"):
            alias["CONN_HEALTH_CHECKS"] = True


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(task: Any = None, **_: Any) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return  # ran inline (tests, ``apply()``): maybe inside the caller's transaction
    from django.db import close_old_connections

    close_old_connections()


class ThreadedBeat(bootsteps.StartStopStep):
    """Worker step behind ``--beat-thread``: the beat scheduler as a thread of the worker.

    Guarantees at most one embedded beat per worker (``-B`` together with ``--beat-thread`` is
    refused); the schedule state goes to ``CELERY_BEAT_SCHEDULE_FILENAME`` like ``-B``'s.
    """

    label = "Beat (thread)"
    conditional = True

    def __init__(self, parent: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = bool(beat_thread)
        if self.enabled and kwargs.get("beat"):
            raise ImproperlyConfigured("use either -B or --beat-thread, not both: only one beat may run")
        super().__init__(parent, **kwargs)

    def create(self, parent: Any) -> Any:
        """The beat service thread, started and stopped with the worker."""
        from celery.beat import EmbeddedService  # only the worker runs beat: web processes skip it (bench B12)

        return EmbeddedService(
            parent.app, thread=True, schedule_filename=parent.schedule_filename, scheduler_cls=parent.scheduler
        )


app.user_options["worker"].add(
    Option(
        ("--beat-thread",),
        is_flag=True,
        default=False,
        help="Run the beat scheduler as a thread of this worker (like -B, without a second process).",
    )
)
app.steps["worker"].add(ThreadedBeat)

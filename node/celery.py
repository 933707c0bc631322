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

from celery import Celery, bootsteps
from celery.exceptions import ImproperlyConfigured
from click import Option

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "node.settings")

app = Celery("redcloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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

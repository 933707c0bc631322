"""The Celery application. Workers: `celery -A node worker -Q inbox,deliver,fanout,media,default`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "node.settings")

app = Celery("redcloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

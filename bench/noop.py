"""The B3 baseline: a trivial POST view (reads the body, answers 202) served as its own WSGI
application, ``gunicorn bench.noop``, under the same gunicorn configuration and the same Django
settings and middleware stack as ``node.wsgi``. Only its URL map differs, and that map lives
here: the noop view is never part of the production URLs."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "node.settings")

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def noop_view(request: HttpRequest, actor_pk: int | None = None) -> HttpResponse:
    """Read the whole body and answer 202 with an empty body, like the inbox does."""
    request.body  # noqa: B018 - reading the body is the work being measured
    return HttpResponse(status=202)


urlpatterns = [
    path("inbox", noop_view),
    path("actors/<int:actor_pk>/inbox", noop_view),
]

settings.ROOT_URLCONF = __name__
application = get_wsgi_application()

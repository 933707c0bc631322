"""Models of the learning app (filled in by its issue)."""

from django.db import models  # noqa: F401

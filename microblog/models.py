"""Models of the microblog app (filled in by its issue)."""

from django.db import models  # noqa: F401

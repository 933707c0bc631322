"""The Django project and the `node` app: identity, role, accounts, hub, operator CLI."""

from node.celery import app as celery_app

__all__ = ["celery_app"]

"""Template context: this node's identity, available to every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def node(request: HttpRequest) -> dict[str, Any]:
    """Expose the node's name, domain and role to templates."""
    return {
        "node_name": settings.NODE_NAME,
        "node_domain": settings.NODE_DOMAIN,
        "node_role": settings.NODE_ROLE,
    }

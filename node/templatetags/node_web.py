"""Template helpers of the node's web pages."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def signup_offered() -> bool:
    """True when anyone may open the sign-up page (approval registration); invite nodes need a link."""
    return settings.NODE_REGISTRATION == "approval"

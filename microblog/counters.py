"""NodeInfo usage counters of the microblog (registered with federation on import)."""

from __future__ import annotations

from federation.registry import register_counter
from microblog.models import Post


def local_posts() -> int:
    """Local, live posts that are not boosts (NodeInfo ``localPosts``)."""
    return Post.objects.filter(local=True, deleted_at__isnull=True, reblog_of__isnull=True).count()


def local_comments() -> int:
    """Local, live replies (NodeInfo ``localComments``)."""
    return Post.objects.filter(
        local=True, deleted_at__isnull=True, reblog_of__isnull=True, in_reply_to_ap_id__gt=""
    ).count()


register_counter("localPosts", local_posts)
register_counter("localComments", local_comments)

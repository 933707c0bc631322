"""URL map of the Mastodon-compatible client API (paths exactly as Mastodon's, no trailing
slash) and of the OAuth endpoints Mastodon clients call (``/oauth/authorize``,
``/oauth/token``, ``/oauth/revoke``; DOT's slash-terminated routes under ``/oauth/`` remain).

Included at the site root from ``microblog/urls.py`` (before DOT's ``/oauth/`` include, so
the Mastodon-shaped wrappers win for ``/oauth/token`` and ``/oauth/token/``).
"""

from django.urls import path, re_path

from microblog.api import accounts, apps, instance, oauth, relationships

urlpatterns = [
    # --- OAuth (P3) ---
    re_path(r"^oauth/authorize/?$", oauth.authorize, name="mastodon-oauth-authorize"),
    re_path(r"^oauth/token/?$", oauth.token, name="mastodon-oauth-token"),
    re_path(r"^oauth/revoke(?:_token)?/?$", oauth.revoke, name="mastodon-oauth-revoke"),
    # --- apps and instance (P3) ---
    path("api/v1/apps", apps.create_app, name="api-apps"),
    path("api/v1/apps/verify_credentials", apps.verify_app, name="api-apps-verify"),
    path("api/v1/instance", instance.instance_v1, name="api-instance"),
    path("api/v2/instance", instance.instance_v2, name="api-instance-v2"),
    path("api/v1/instance/peers", instance.peers, name="api-instance-peers"),
    path("api/v1/instance/activity", instance.activity, name="api-instance-activity"),
    path("api/v1/instance/rules", instance.rules, name="api-instance-rules"),
    path("api/v1/custom_emojis", instance.empty_list, name="api-custom-emojis"),
    path("api/v1/announcements", instance.empty_list, name="api-announcements"),
    path("api/v1/filters", instance.empty_list, name="api-filters"),
    path("api/v2/filters", instance.empty_list, name="api-filters-v2"),
    path("api/v1/trends", instance.empty_list, name="api-trends"),
    path("api/v1/trends/tags", instance.empty_list, name="api-trends-tags"),
    path("api/v1/trends/statuses", instance.empty_list, name="api-trends-statuses"),
    path("api/v1/preferences", instance.preferences, name="api-preferences"),
    # --- accounts (P3) ---
    path("api/v1/accounts/verify_credentials", accounts.verify_credentials, name="api-verify-credentials"),
    path("api/v1/accounts/update_credentials", accounts.update_credentials, name="api-update-credentials"),
    path("api/v1/accounts/lookup", accounts.lookup, name="api-accounts-lookup"),
    path("api/v1/accounts/relationships", accounts.relationships_view, name="api-relationships"),
    path("api/v1/accounts/search", accounts.search, name="api-accounts-search"),
    path("api/v1/accounts/<int:account_id>", accounts.show, name="api-account"),
    path("api/v1/accounts/<int:account_id>/statuses", accounts.statuses, name="api-account-statuses"),
    path("api/v1/accounts/<int:account_id>/followers", accounts.followers, name="api-account-followers"),
    path("api/v1/accounts/<int:account_id>/following", accounts.following, name="api-account-following"),
    path("api/v1/accounts/<int:account_id>/follow", accounts.follow, name="api-account-follow"),
    path("api/v1/accounts/<int:account_id>/unfollow", accounts.unfollow, name="api-account-unfollow"),
    path("api/v1/accounts/<int:account_id>/remove_from_followers", accounts.remove_from_followers),
    path("api/v1/accounts/<int:account_id>/block", relationships.block, name="api-account-block"),
    path("api/v1/accounts/<int:account_id>/unblock", relationships.unblock, name="api-account-unblock"),
    path("api/v1/accounts/<int:account_id>/mute", relationships.mute, name="api-account-mute"),
    path("api/v1/accounts/<int:account_id>/unmute", relationships.unmute, name="api-account-unmute"),
    # --- follow requests, blocks, mutes (P3) ---
    path("api/v1/follow_requests", relationships.follow_requests, name="api-follow-requests"),
    path("api/v1/follow_requests/<int:account_id>/authorize", relationships.authorize_request),
    path("api/v1/follow_requests/<int:account_id>/reject", relationships.reject_request),
    path("api/v1/blocks", relationships.blocks, name="api-blocks"),
    path("api/v1/mutes", relationships.mutes, name="api-mutes"),
]

# --- P4: statuses, timelines, notifications, polls, media, search, markers, bookmarks, favourites ---
from microblog.api import collections as p4_collections  # noqa: E402
from microblog.api import markers as p4_markers  # noqa: E402
from microblog.api import media as p4_media  # noqa: E402
from microblog.api import notifications as p4_notifications  # noqa: E402
from microblog.api import polls as p4_polls  # noqa: E402
from microblog.api import search as p4_search  # noqa: E402
from microblog.api import status_actions as p4_actions  # noqa: E402
from microblog.api import statuses as p4_statuses  # noqa: E402
from microblog.api import timelines as p4_timelines  # noqa: E402

_STATUS = "api/v1/statuses/<str:status_id>"
_NOTE = "api/v1/notifications/<str:notification_id>"
urlpatterns += [
    path("api/v1/statuses", p4_statuses.statuses_root, name="api-statuses"),
    path(_STATUS, p4_statuses.status_detail, name="api-status"),
    path(f"{_STATUS}/history", p4_statuses.status_history, name="api-status-history"),
    path(f"{_STATUS}/source", p4_statuses.status_source, name="api-status-source"),
    path(f"{_STATUS}/context", p4_statuses.status_context, name="api-status-context"),
    path(f"{_STATUS}/favourite", p4_actions.favourite, name="api-status-favourite"),
    path(f"{_STATUS}/unfavourite", p4_actions.unfavourite, name="api-status-unfavourite"),
    path(f"{_STATUS}/reblog", p4_actions.reblog, name="api-status-reblog"),
    path(f"{_STATUS}/unreblog", p4_actions.unreblog, name="api-status-unreblog"),
    path(f"{_STATUS}/bookmark", p4_actions.bookmark, name="api-status-bookmark"),
    path(f"{_STATUS}/unbookmark", p4_actions.unbookmark, name="api-status-unbookmark"),
    path(f"{_STATUS}/pin", p4_actions.pin, name="api-status-pin"),
    path(f"{_STATUS}/unpin", p4_actions.unpin, name="api-status-unpin"),
    path(f"{_STATUS}/favourited_by", p4_collections.favourited_by, name="api-status-favourited-by"),
    path(f"{_STATUS}/reblogged_by", p4_collections.reblogged_by, name="api-status-reblogged-by"),
    path("api/v1/timelines/home", p4_timelines.home, name="api-timeline-home"),
    path("api/v1/timelines/public", p4_timelines.public, name="api-timeline-public"),
    path("api/v1/timelines/tag/<str:hashtag>", p4_timelines.tag, name="api-timeline-tag"),
    path("api/v1/notifications", p4_notifications.notification_list, name="api-notifications"),
    path("api/v1/notifications/clear", p4_notifications.clear, name="api-notifications-clear"),
    path("api/v1/notifications/unread_count", p4_notifications.unread_count, name="api-notifications-unread"),
    path(_NOTE, p4_notifications.notification_detail, name="api-notification"),
    path(f"{_NOTE}/dismiss", p4_notifications.dismiss, name="api-notification-dismiss"),
    path("api/v1/polls/<str:poll_id>", p4_polls.poll_detail, name="api-poll"),
    path("api/v1/polls/<str:poll_id>/votes", p4_polls.vote, name="api-poll-votes"),
    path("api/v2/media", p4_media.upload, name="api-media-v2"),
    path("api/v1/media", p4_media.upload, name="api-media"),
    path("api/v1/media/<str:media_id>", p4_media.media_detail, name="api-media-detail"),
    path("api/v2/search", p4_search.search, name="api-search"),
    path("api/v1/bookmarks", p4_collections.bookmarks, name="api-bookmarks"),
    path("api/v1/favourites", p4_collections.favourites, name="api-favourites"),
    path("api/v1/markers", p4_markers.markers, name="api-markers"),
]
# --- end P4 ---

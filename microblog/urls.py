"""Microblog routes: the Mastodon-compatible client API and the web UI."""

from django.urls import include, path, re_path

from microblog import objects, web, web_pages
from microblog.api import errors as api_errors

urlpatterns: list = []

# --- P1 posts: ActivityPub documents of posts and of published activities ---
urlpatterns += [
    path("objects/<str:object_id>", objects.object_view, name="post_object"),
    path("activities/<uuid:activity_uuid>", objects.activity_view, name="activity"),
]
# --- end P1 ---

# --- API: Mastodon-compatible client API and OAuth endpoints (P3/P4, microblog/api/urls.py) ---
urlpatterns += [path("", include("microblog.api.urls"))]
urlpatterns += [re_path(r"^api/(?P<rest>.*)$", api_errors.api_fallback)]  # trailing slash or JSON 404
# --- end API ---

# --- P6 web UI (server-rendered pages; ``/@name`` itself is node.web.profile) ---
urlpatterns += [
    path("timelines/home", web_pages.home_timeline, name="timeline_home"),
    path("timelines/local", web_pages.local_timeline, name="timeline_local"),
    path("timelines/federated", web_pages.federated_timeline, name="timeline_federated"),
    path("tags/<str:name>", web_pages.hashtag_timeline, name="hashtag"),
    path("compose", web.compose, name="compose"),
    path("posts/<int:post_id>", web_pages.post_detail, name="post_detail"),
    path("posts/<int:post_id>/edit", web.edit_post, name="post_edit"),
    path("posts/<int:post_id>/delete", web.delete_post, name="post_delete"),
    path("posts/<int:post_id>/vote", web.poll_vote, name="poll_vote"),
    path("posts/<int:post_id>/<slug:action>", web.post_action, name="post_action"),
    path("actors/<int:actor_id>/follow", web.follow_actor, name="actor_follow"),
    path("actors/<int:actor_id>/unfollow", web.unfollow_actor, name="actor_unfollow"),
    path("notifications", web_pages.notifications_page, name="notifications"),
    path("search", web_pages.search_page, name="search"),
    # Mastodon-style post pages (``/@alice/123``) and remote profiles (``/@bob@example.org``).
    path("@<str:username>/<int:post_id>", web_pages.post_detail, name="post_detail_by_author"),
    re_path(r"^@(?P<username>[^@/]+)@(?P<domain>[^@/]+)$", web_pages.remote_profile, name="remote_profile"),
]
# --- end P6 web UI ---

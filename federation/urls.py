"""ActivityPub, WebFinger and NodeInfo routes."""

from django.urls import path, re_path

from federation import discovery, inbox, operator, views

urlpatterns = [
    path(".well-known/webfinger", discovery.webfinger, name="webfinger"),
    re_path(r"^\.well-known/host-meta(?:\.json)?$", discovery.host_meta, name="host-meta"),
    path(".well-known/nodeinfo", discovery.nodeinfo_links, name="nodeinfo-links"),
    path("nodeinfo/<str:version>", discovery.nodeinfo, name="nodeinfo"),
    path("inbox", inbox.inbox_view, name="shared-inbox"),
    path("operator/federation", operator.health_view, name="federation-health"),
    path("actors/<int:actor_pk>", views.actor_view, name="actor"),
    path("actors/<int:actor_pk>/inbox", inbox.inbox_view, name="actor-inbox"),
    path("actors/<int:actor_pk>/outbox", views.outbox_view, name="actor-outbox"),
    path("actors/<int:actor_pk>/followers", views.followers_view, name="actor-followers"),
    path("actors/<int:actor_pk>/following", views.following_view, name="actor-following"),
    path("actors/<int:actor_pk>/featured", views.featured_view, name="actor-featured"),
]

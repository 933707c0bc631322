"""Routes of groups: HTML pages, the client API (``/api/v1/groups``) and the moderators collection."""

from django.urls import include, path

from groups import api, officer_views, posts_api, posts_views, views  # posts_api: G2

urlpatterns = [
    path("groups", views.directory_view, name="groups_directory"),
    path("groups/find", views.find_remote, name="groups_find"),
    path("g/<str:name>", views.group_page, name="group_page"),
    path("g/<str:name>/join", views.join, name="group_join"),
    path("g/<str:name>/leave", views.leave, name="group_leave"),
    path("g/<str:name>/requests/<int:actor_pk>/<str:decision>", views.decide, name="group_decide"),
    path("g/<str:name>/posts", posts_views.group_posts_page, name="group_posts"),
    path("actors/<int:actor_pk>/moderators", views.moderators_view, name="group_moderators"),
    # --- client API (G1) ---
    path("api/v1/groups", api.groups, name="api-groups"),
    path("api/v1/groups/<int:group_id>", api.group_detail, name="api-group"),
    path("api/v1/groups/<int:group_id>/join", api.join, name="api-group-join"),
    path("api/v1/groups/<int:group_id>/leave", api.leave, name="api-group-leave"),
    path("api/v1/groups/<int:group_id>/members", api.members, name="api-group-members"),
    path("api/v1/groups/<int:group_id>/requests", api.requests, name="api-group-requests"),
    path(
        "api/v1/groups/<int:group_id>/requests/<int:account_id>/<str:decision>",
        api.decide,
        name="api-group-decide",
    ),
    # --- G2-G4 add their routes below (additive) ---
    path("api/v1/groups/<int:group_id>/statuses", posts_api.group_statuses, name="api-group-statuses"),  # G2
    path("api/v1/groups/<int:group_id>/polls/<int:poll_id>", posts_api.group_poll, name="api-group-poll"),  # G2
    path(
        "api/v1/groups/account/<int:account_id>/statuses",
        posts_api.group_account_statuses,
        name="api-group-account-statuses",
    ),
    path("", include("groups.events_urls")),  # G3 events, .ics feeds, /api/v1/events
]

from groups import records_views  # noqa: E402 - G4 meetings, dues, transfers (pages + API)

urlpatterns += records_views.urlpatterns
urlpatterns += officer_views.urlpatterns  # roles, invitations, removal, real-name verification

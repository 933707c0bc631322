"""Routes of group events (G3): pages, iCalendar files, the AS2 event document, the client API."""

from django.urls import path

from groups import events_views as v

urlpatterns = [
    path("events/<str:event_uuid>", v.event_object, name="event_object"),
    path("g/<str:name>/events", v.events_page, name="group_events"),
    path("g/<str:name>/events/new", v.event_new, name="group_event_new"),
    path("g/<str:name>/events/<int:event_id>", v.event_page, name="group_event"),
    path("g/<str:name>/events/<int:event_id>/<slug:action>", v.event_action, name="group_event_action"),
    path(
        "g/<str:name>/events/<int:event_id>/participants/<int:participation_id>/<slug:decision>",
        v.participant_decide,
        name="group_event_decide",
    ),
    path("groups/<str:name>/events/<int:event_id>.ics", v.event_ics, name="group_event_ics"),
    path("groups/<str:name>/calendar.ics", v.group_calendar, name="group_calendar"),
    path("api/v1/groups/<int:group_id>/events", v.api_group_events, name="api-group-events"),
    path("api/v1/events/<int:event_id>", v.api_event, name="api-event"),
    path("api/v1/events/<int:event_id>/join", v.api_event_join, name="api-event-join"),
    path("api/v1/events/<int:event_id>/leave", v.api_event_leave, name="api-event-leave"),
    path("api/v1/events/<int:event_id>/participants", v.api_event_participants, name="api-event-participants"),
]

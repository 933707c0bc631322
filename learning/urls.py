"""Routes of the learning app: the client API under ``/api/v1/learning`` and the HTML pages under
``/learning``. (W5 appends its library and course-sharing routes in its own section below.)"""

from django.urls import include, path

from learning import api, library_api, sharing_api, views

# ---------------------------------------------------------------- W4: courses, study, exams, credits
urlpatterns = [
    path("api/v1/learning/courses", api.courses),
    path("api/v1/learning/courses/<int:course_id>", api.course),
    path("api/v1/learning/courses/<int:course_id>/lessons", api.lessons),
    path("api/v1/learning/courses/<int:course_id>/questions", api.questions),
    path("api/v1/learning/courses/<int:course_id>/exam", api.exam_settings),
    path("api/v1/learning/courses/<int:course_id>/exam/attempts", api.start_attempt),
    path("api/v1/learning/courses/<int:course_id>/assign", api.assign),
    path("api/v1/learning/courses/<int:course_id>/ask", api.ask),
    path("api/v1/learning/courses/<int:course_id>/<str:action>", api.course_action),
    path("api/v1/learning/lessons/<int:lesson_id>", api.lesson),
    path("api/v1/learning/lessons/<int:lesson_id>/complete", api.lesson_complete),
    path("api/v1/learning/lessons/<int:lesson_id>/attachments", api.lesson_attachments),
    path("api/v1/learning/attempts/<int:attempt_id>", api.attempt),
    path("api/v1/learning/attempts/<int:attempt_id>/submit", api.submit_attempt),
    path("api/v1/learning/me", api.me),
    path("api/v1/learning/reports/node", api.node_report),
    path("api/v1/learning/reports/groups/<int:group_id>", api.group_report),
    path("learning/", views.catalog, name="learning_catalog"),
    path("learning/me", views.my_learning, name="learning_me"),
    path("learning/new", views.new_course, name="learning_new_course"),
    path("learning/courses/<int:course_id>", views.course_page, name="learning_course"),
    path("learning/courses/<int:course_id>/enrol", views.enrol, name="learning_enrol"),
    path("learning/courses/<int:course_id>/edit", views.edit_course, name="learning_edit_course"),
    path("learning/courses/<int:course_id>/ask", views.ask, name="learning_ask"),
    path("learning/courses/<int:course_id>/exam", views.exam_page, name="learning_exam"),
    path("learning/lessons/<int:lesson_id>", views.lesson_page, name="learning_lesson"),
    path("learning/lessons/<int:lesson_id>/complete", views.complete_lesson, name="learning_complete_lesson"),
    path("learning/attempts/<int:attempt_id>", views.attempt_page, name="learning_attempt"),
    path("learning/reports", views.node_report, name="learning_node_report"),
    path("learning/reports/groups/<int:group_id>", views.group_report, name="learning_group_report"),
]

# ---------------------------------------------------------------- W5: library, course sharing
urlpatterns += [
    path("api/v1/learning/library", library_api.documents),
    path("api/v1/learning/library/categories", library_api.categories),
    path("api/v1/learning/library/<int:document_id>", library_api.document),
    path("api/v1/learning/shared", sharing_api.shared),
    path("api/v1/learning/import", sharing_api.import_course),
    path("", include("learning.sharing_urls")),
]

"""Routes of the e-library and of course sharing (included by ``learning/urls.py``)."""

from __future__ import annotations

from django.urls import path, re_path

from learning import library_views, sharing_views

urlpatterns = [
    re_path(r"^courses/(?P<key>[0-9a-f]{32})$", sharing_views.course_object, name="learning_course_object"),
    path("learning/shared", sharing_views.shared_catalog, name="learning_shared"),
    path("learning/import", sharing_views.import_page, name="learning_import"),
    path("learning/library/", library_views.library_index, name="library_index"),
    path("learning/library/upload", library_views.upload_page, name="library_upload"),
    path("learning/library/<int:document_id>", library_views.document_page, name="library_document"),
    path("learning/library/<int:document_id>/file", library_views.document_file, name="library_file"),
    path("learning/library/<int:document_id>/edit", library_views.edit_page, name="library_edit"),
    path("learning/library/<int:document_id>/delete", library_views.delete_view, name="library_delete"),
]

"""Operator views of the classroom (read-mostly: course changes go through ``learning.services``).

Answer keys are visible here on purpose: the admin is for staff only."""

from django.contrib import admin

from learning.models import (
    Course,
    CourseAssignment,
    CreditEntry,
    Enrolment,
    Exam,
    ExamAttempt,
    Instructor,
    Lesson,
    LessonAttachment,
    Question,
)


@admin.register(Instructor)
class InstructorAdmin(admin.ModelAdmin):
    list_display = ("actor", "granted_by", "granted_at")
    raw_id_fields = ("actor", "granted_by")


class LessonInline(admin.TabularInline):
    model = Lesson
    fields = ("position", "title", "video_url")
    readonly_fields = ("title", "video_url")
    extra = 0
    can_delete = False


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title", "state", "local", "category", "credits", "owner", "published_at")
    list_filter = ("state", "local", "category")
    search_fields = ("title", "summary", "ap_id")
    raw_id_fields = ("owner", "authors", "discussion")
    readonly_fields = ("ap_id", "origin_ap_id", "local", "published_at", "state_changed_at", "created_at", "updated_at")
    inlines = [LessonInline]


@admin.register(LessonAttachment)
class LessonAttachmentAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "mime_type", "size", "lesson")
    list_filter = ("kind",)
    raw_id_fields = ("lesson",)
    readonly_fields = ("file", "mime_type", "size", "sha256")


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("prompt", "kind", "course", "points")
    list_filter = ("kind",)
    raw_id_fields = ("course",)


@admin.register(Exam)
class ExamAdmin(admin.ModelAdmin):
    list_display = ("course", "question_count", "pass_mark", "time_limit_minutes", "max_attempts")
    raw_id_fields = ("course",)


@admin.register(ExamAttempt)
class ExamAttemptAdmin(admin.ModelAdmin):
    list_display = ("actor", "exam", "number", "state", "score", "passed", "started_at")
    list_filter = ("state", "passed")
    raw_id_fields = ("actor", "exam")
    readonly_fields = ("question_ids", "answers", "score", "points", "max_points", "passed", "state", "submitted_at")


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    list_display = ("actor", "course", "source", "enrolled_at", "completed_at")
    list_filter = ("source",)
    raw_id_fields = ("actor", "course", "assignment", "last_lesson")


@admin.register(CourseAssignment)
class CourseAssignmentAdmin(admin.ModelAdmin):
    list_display = ("course", "group_actor", "deadline", "assigned_by")
    raw_id_fields = ("course", "group_actor", "assigned_by")


@admin.register(CreditEntry)
class CreditEntryAdmin(admin.ModelAdmin):
    list_display = ("actor", "course_title", "credits", "reason", "year", "awarded_at")
    list_filter = ("year", "reason")
    raw_id_fields = ("actor", "course", "attempt")

    def has_change_permission(self, request, obj=None) -> bool:
        """The ledger is written by grading only."""
        return False

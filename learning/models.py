"""Models of the learning app (the network classroom).

Two sections, each owned by one author:
- **W4** (below): courses, lessons, attachments, instructors, enrolments, lesson progress,
  group assignments, the question bank, exams and attempts, the credit ledger.
- **W5** (appended at the end): library documents and the origin fields of imported courses.

Storage only: no side effects in ``save()``, no signals; writes go through ``learning.services``,
``learning.exams`` and ``learning.credits``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from federation.models import Actor

# =====================================================================================
# W4 section: courses, study, exams, credits
# =====================================================================================


def new_course_ap_id() -> str:
    """A fresh opaque, stable id for a course this node publishes (``<base>/courses/<uuid>``).

    W5 serves the course's AS2 document at this id (content negotiation on the course page)."""
    return f"{settings.NODE_BASE_URL}/courses/{uuid.uuid4().hex}"


class Instructor(models.Model):
    """The node role "instructor": may create, edit and publish courses. Staff are instructors
    without a row (see ``learning.services.is_instructor``)."""

    actor = models.OneToOneField(Actor, on_delete=models.CASCADE, related_name="instructor_role")
    granted_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"instructor {self.actor_id}"


class CourseState(models.TextChoices):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"  # hidden from the catalog; enrolments and credits are kept


class Course(models.Model):
    """A course: metadata, ordered lessons, an optional exam, a credit value.

    Federation fields (for W5): ``ap_id`` is the stable AS2 id (local: ``<base>/courses/<uuid>``;
    imported: the origin's id copied); ``origin_ap_id`` is blank for a course made here and the
    origin's id for an imported copy (``local`` mirrors that); ``published_at`` is set once on the
    first publication; ``updated_at`` changes on every edit (``touch`` it when lessons change).
    """

    ap_id = models.URLField(max_length=500, unique=True, default=new_course_ap_id)
    origin_ap_id = models.URLField(max_length=500, blank=True, db_index=True)
    local = models.BooleanField(default=True, db_index=True)
    owner = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_courses")
    authors = models.ManyToManyField(Actor, blank=True, related_name="authored_courses")
    author_names = models.CharField(max_length=500, blank=True)  # attribution text (imported courses)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)  # plain text
    cover = models.ImageField(upload_to="learning/covers/", blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    credits = models.PositiveIntegerField(default=0)
    language = models.CharField(max_length=16, blank=True)
    state = models.CharField(max_length=16, choices=CourseState.choices, default=CourseState.DRAFT, db_index=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    # The Q&A thread: a public post by the course's instructor; questions are its replies.
    discussion = models.ForeignKey(
        "microblog.Post", null=True, blank=True, on_delete=models.SET_NULL, related_name="discussed_courses"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-published_at", "-pk"]

    def __str__(self) -> str:
        return self.title


class Lesson(models.Model):
    """One lesson of a course: Markdown source and its sanitised HTML, an external video link.

    ``ap_id`` (for W5) is stable per lesson, so an origin's ``Update`` maps lessons one to one."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lessons")
    ap_id = models.CharField(max_length=500, blank=True, db_index=True)
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)  # Markdown as written
    body_html = models.TextField(blank=True)  # rendered and sanitised: safe to show
    video_url = models.URLField(max_length=500, blank=True)  # an external video (http/https only)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title


class AttachmentKind(models.TextChoices):
    VIDEO = "video"
    AUDIO = "audio"
    PDF = "pdf"
    EPUB = "epub"


class LessonAttachment(models.Model):
    """A file of a lesson, identified by its content (``learning.attachments``). Imported courses
    may carry ``remote_url`` instead of a file (W5)."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(max_length=8, choices=AttachmentKind.choices)
    file = models.FileField(upload_to="learning/attachments/", blank=True)
    remote_url = models.URLField(max_length=500, blank=True)
    name = models.CharField(max_length=200, blank=True)  # display name (cleaned)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name or self.kind


class CourseAssignment(models.Model):
    """A course assigned to a whole group (by its ``federation.Actor`` of type Group) with a
    deadline, by one of the group's officers ("organised classes")."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="assignments")
    group_actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="course_assignments")
    assigned_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deadline = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "group_actor"], name="learning_assignment_unique")]

    def __str__(self) -> str:
        return f"{self.course_id} -> {self.group_actor_id}"


class EnrolmentSource(models.TextChoices):
    SELF = "self"  # self-selected from the catalog
    ASSIGNED = "assigned"  # through a group assignment


class Enrolment(models.Model):
    """A member studying a course; ``last_lesson`` is where they resume."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrolments")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="enrolments")
    source = models.CharField(max_length=16, choices=EnrolmentSource.choices, default=EnrolmentSource.SELF)
    assignment = models.ForeignKey(
        CourseAssignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="enrolments"
    )
    last_lesson = models.ForeignKey(Lesson, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    enrolled_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    lessons_completed_at = models.DateTimeField(null=True, blank=True)  # every lesson done
    completed_at = models.DateTimeField(null=True, blank=True)  # course done (exam passed if any)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "actor"], name="learning_enrolment_unique")]

    def __str__(self) -> str:
        return f"{self.actor_id} in {self.course_id}"


class LessonProgress(models.Model):
    """One lesson completed by one enrolled member."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="progress")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="+")
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrolment", "lesson"], name="learning_progress_unique")]

    def __str__(self) -> str:
        return f"{self.enrolment_id}: {self.lesson_id}"


class QuestionKind(models.TextChoices):
    SINGLE = "single"  # one correct choice
    MULTIPLE = "multiple"  # a set of correct choices, all needed
    TRUE_FALSE = "true_false"
    FILL = "fill"  # fill in the blank: accepted texts, compared normalised


class Question(models.Model):
    """A question of a course's bank. ``answer`` is the key and never leaves the server before
    the attempt is submitted: single ``[i]``, multiple ``[i, j]``, true/false ``[true]``, fill
    ``["text", "alternative"]``. ``ap_id`` (W5): stable per question for imports/updates."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="questions")
    ap_id = models.CharField(max_length=500, blank=True, db_index=True)
    kind = models.CharField(max_length=16, choices=QuestionKind.choices)
    prompt = models.TextField()
    choices = models.JSONField(default=list, blank=True)  # list[str] (single/multiple)
    answer = models.JSONField(default=list)
    explanation = models.TextField(blank=True)  # shown after submission
    points = models.PositiveIntegerField(default=1)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.prompt[:60]


class Exam(models.Model):
    """A course's exam: ``question_count`` questions drawn at random from the bank, an optional
    time limit (enforced at submission), an optional attempt limit and a pass mark (percent)."""

    course = models.OneToOneField(Course, on_delete=models.CASCADE, related_name="exam")
    question_count = models.PositiveIntegerField(default=10)
    time_limit_minutes = models.PositiveIntegerField(null=True, blank=True)
    max_attempts = models.PositiveIntegerField(null=True, blank=True)  # None: unlimited
    pass_mark = models.PositiveIntegerField(default=60)  # percent of points
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"exam of {self.course_id}"


class AttemptState(models.TextChoices):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    EXPIRED = "expired"  # the time limit passed without a valid submission


class ExamAttempt(models.Model):
    """One try at an exam: the questions drawn (ids, in order), the member's answers, the grade
    computed by the server. ``deadline_at`` is when submission stops being accepted."""

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="attempts")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="exam_attempts")
    number = models.PositiveIntegerField(default=1)
    question_ids = models.JSONField(default=list)
    answers = models.JSONField(default=dict, blank=True)  # str(question id) -> answer given
    state = models.CharField(max_length=16, choices=AttemptState.choices, default=AttemptState.IN_PROGRESS)
    started_at = models.DateTimeField(default=timezone.now)
    deadline_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    score = models.PositiveIntegerField(null=True, blank=True)  # percent, set by grading only
    points = models.PositiveIntegerField(null=True, blank=True)
    max_points = models.PositiveIntegerField(null=True, blank=True)
    passed = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exam", "actor", "number"], name="learning_attempt_unique")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.actor_id} at {self.exam_id}"


class CreditReason(models.TextChoices):
    EXAM = "exam"  # passed the course's exam
    COMPLETION = "completion"  # completed a course without an exam


class CreditEntry(models.Model):
    """One line of a member's credit ledger. At most one line per member and course: credits
    for a course are awarded once, whatever happens afterwards."""

    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="credit_entries")
    course = models.ForeignKey(Course, null=True, blank=True, on_delete=models.SET_NULL, related_name="credit_entries")
    course_title = models.CharField(max_length=200)  # kept if the course is deleted
    credits = models.PositiveIntegerField()
    reason = models.CharField(max_length=16, choices=CreditReason.choices)
    year = models.PositiveIntegerField(db_index=True)
    attempt = models.ForeignKey(ExamAttempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    awarded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["actor", "course"], condition=Q(course__isnull=False), name="learning_credit_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.credits} to {self.actor_id} ({self.course_title})"


# =====================================================================================
# W5 section: library documents, imported-course origin fields (appended by W5)
# =====================================================================================


class DocumentKind(models.TextChoices):
    PDF = "pdf"
    EPUB = "epub"
    TEXT = "text"


class ExtractionState(models.TextChoices):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # the file could not be read: ``extraction_error`` says why


class LibraryDocument(models.Model):
    """A document of the e-library (PDF, EPUB or plain text) with its metadata and, once the
    worker has read it (``learning.library.extract_document``), its plain text for search."""

    title = models.CharField(max_length=300)
    author = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    language = models.CharField(max_length=16, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=DocumentKind.choices)
    file = models.FileField(upload_to="learning/library/%Y/%m/")
    original_name = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    uploaded_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(blank=True)  # extracted plain text, bounded by LEARNING_LIBRARY_MAX_TEXT_CHARS
    pages = models.PositiveIntegerField(null=True, blank=True)
    extraction_state = models.CharField(
        max_length=8, choices=ExtractionState.choices, default=ExtractionState.PENDING, db_index=True
    )
    extraction_error = models.CharField(max_length=500, blank=True)
    extracted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.title


class CourseOrigin(models.Model):
    """Where an imported course comes from: the origin node's instance actor (the only actor
    whose ``Update`` may refresh it) and when it was last copied."""

    course = models.OneToOneField(Course, on_delete=models.CASCADE, related_name="origin")
    publisher = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")
    imported_by = models.ForeignKey(Actor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    imported_at = models.DateTimeField(default=timezone.now)
    refreshed_at = models.DateTimeField(default=timezone.now)
    remote_updated = models.CharField(max_length=40, blank=True)  # the origin's ``updated`` as sent

    def __str__(self) -> str:
        return f"{self.course_id} from {self.publisher_id}"


class CourseImporter(models.Model):
    """A node (its instance actor) that fetched one of our courses with a valid signature: it
    may read the answer keys and receives the course's ``Update``s."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="importers")
    actor = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")
    first_fetched_at = models.DateTimeField(default=timezone.now)
    last_fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "actor"], name="learning_importer_unique")]

    def __str__(self) -> str:
        return f"{self.actor_id} imports {self.course_id}"


class SharedCourse(models.Model):
    """A course published by another node, as received (the catalog of shared courses a hub
    shows): public fields only, never answer keys."""

    ap_id = models.URLField(max_length=500, unique=True)
    publisher = models.ForeignKey(Actor, on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=255, db_index=True)
    url = models.URLField(max_length=500, blank=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=16, blank=True)
    credits = models.PositiveIntegerField(default=0)
    lesson_count = models.PositiveIntegerField(default=0)
    author_names = models.CharField(max_length=500, blank=True)
    published = models.CharField(max_length=40, blank=True)
    updated = models.CharField(max_length=40, blank=True)
    withdrawn = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return self.title

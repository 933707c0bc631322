"""Operator CLI of the learning app.

manage.py learning import-course URL        copy (or refresh) a course published by another node
manage.py learning refresh-course URL       fetch an imported course again from its origin
manage.py learning shared                   list the catalog of shared courses this node knows
manage.py learning extract DOCUMENT_ID      read a library document's text again (in the worker's way)
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from learning import library, sharing
from learning.errors import LearningError
from learning.models import Course, SharedCourse


class Command(BaseCommand):
    help = "Learning operations: import-course, refresh-course, shared, extract."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        p = sub.add_parser("import-course", help="import a course by its URL (its AS2 id)")
        p.add_argument("url")
        p = sub.add_parser("refresh-course", help="refetch an imported course from its origin")
        p.add_argument("url")
        sub.add_parser("shared", help="list the shared courses this node knows")
        p = sub.add_parser("extract", help="extract a library document's text again")
        p.add_argument("document_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "import-course":
            try:
                course = sharing.import_course(options["url"])
            except LearningError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(f"imported {course.ap_id} as course {course.pk}: {course.title}")
        elif action == "refresh-course":
            course = Course.objects.filter(origin_ap_id=options["url"], local=False).first()
            if course is None:
                raise CommandError("no imported course with that origin id")
            if not sharing.refresh_course(course.pk):
                raise CommandError("the origin could not be read; the copy is unchanged")
            self.stdout.write(f"refreshed course {course.pk}")
        elif action == "shared":
            for row in SharedCourse.objects.filter(withdrawn=False):
                self.stdout.write(f"{row.ap_id}\t{row.domain}\t{row.title}")
        elif action == "extract":
            state = library.extract_document(options["document_id"], force=True)
            if not state:
                raise CommandError("no such document")
            self.stdout.write(state)

"""The e-library: documents (PDF, EPUB, plain text) with metadata, browsed by category and
searched in full text (``learning.search``).

- **Upload** (``upload_document``): instructors and staff only; the size is checked before the
  file is read whole, the type is decided by the bytes (``textextract.sniff_kind``), PDFs with
  active content (JavaScript, launch actions, embedded files) are refused. Refusals raise
  ``LearningError`` and store nothing.
- **Extraction** never runs in the request: the upload schedules the Celery task
  ``learning.media.extract_document`` (queue ``media``) after commit, which reads the text in a
  child process with time, memory and size bounds (``textextract.extract_text``). A file that
  cannot be read ends ``failed`` with the reason; the worker carries on.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from celery import shared_task
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.models import Actor
from learning import textextract
from learning.errors import LearningError
from learning.models import DocumentKind, ExtractionState, LibraryDocument

EXTENSIONS = {DocumentKind.PDF: "pdf", DocumentKind.EPUB: "epub", DocumentKind.TEXT: "txt"}
_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|XFA|RichMedia|SubmitForm|ImportData)\b")


def max_bytes() -> int:
    """Largest accepted document (``LEARNING_LIBRARY_MAX_BYTES``, 50 MiB by default)."""
    return int(settings.LEARNING_LIBRARY_MAX_BYTES)


def limits() -> textextract.Limits:
    """Bounds of one extraction, from settings (``LEARNING_LIBRARY_EXTRACT_SECONDS``, ``..._PAGES``,
    ``..._MAX_TEXT_CHARS``, ``..._EXTRACT_MEMORY_BYTES``)."""
    return textextract.Limits(
        max_chars=int(settings.LEARNING_LIBRARY_MAX_TEXT_CHARS),
        max_pages=int(settings.LEARNING_LIBRARY_EXTRACT_PAGES),
        seconds=float(settings.LEARNING_LIBRARY_EXTRACT_SECONDS),
        memory_bytes=int(settings.LEARNING_LIBRARY_EXTRACT_MEMORY_BYTES),
    )


def can_manage(actor: Actor | None) -> bool:
    """True for instructors and staff of this node (who may upload and remove documents)."""
    from learning.services import is_instructor

    return is_instructor(actor)


def _read(upload: UploadedFile) -> bytes:
    limit = max_bytes()
    too_big = LearningError(
        _("This file is too large: at most %(mb)s MB.") % {"mb": f"{limit / (1024 * 1024):.3g}"},
        code="size",
        status=413,
    )
    if upload.size is not None and upload.size > limit:
        raise too_big
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise too_big
    if not data:
        raise LearningError(_("The file is empty."), code="type")
    return data


def _clean(value: object, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def _year(value: object) -> int | None:
    if value in (None, ""):
        return None
    try:
        year = int(str(value))
    except ValueError:
        raise LearningError(_("The year must be a number.")) from None
    if not 1 <= year <= 9999:
        raise LearningError(_("The year must be between 1 and 9999."))
    return year


def upload_document(
    actor: Actor | None,
    upload: UploadedFile,
    *,
    title: str,
    author: str = "",
    category: str = "",
    language: str = "",
    year: object = None,
    description: str = "",
) -> LibraryDocument:
    """Store a checked document and schedule its text extraction after commit.

    Raises ``LearningError``: 403 when ``actor`` is no instructor or staff, 413 over the size
    limit, ``type`` when the bytes are not PDF, EPUB or text (or a PDF with active content),
    ``invalid`` for bad metadata. A refusal stores no row and no file."""
    if not can_manage(actor):
        raise LearningError(_("Only instructors can add documents to the library."), code="forbidden", status=403)
    title = _clean(title, 300)
    if not title:
        raise LearningError(_("A document needs a title."))
    year_value = _year(year)
    data = _read(upload)
    kind = textextract.sniff_kind(data)
    if kind is None:
        raise LearningError(_("Library documents must be PDF, EPUB or plain text."), code="type")
    if kind == DocumentKind.PDF and _PDF_ACTIVE.search(data):
        raise LearningError(_("This PDF contains active content and is refused."), code="type")
    name = _clean(str(upload.name or "").replace("\\", "/").rsplit("/", 1)[-1], 200)
    with transaction.atomic():
        document = LibraryDocument(
            title=title,
            author=_clean(author, 200),
            category=_clean(category, 100),
            language=_clean(language, 16),
            year=year_value,
            description=str(description or "").strip()[:5000],
            kind=kind,
            original_name=name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            uploaded_by=actor,
        )
        document.file.save(f"{secrets.token_hex(16)}.{EXTENSIONS[DocumentKind(kind)]}", ContentFile(data), save=False)
        document.save()
        extract_document_task.delay_on_commit(document.pk)
    return document


def update_document(actor: Actor | None, document: LibraryDocument, **fields: object) -> LibraryDocument:
    """Change a document's metadata (title, author, category, language, year, description)."""
    if not can_manage(actor):
        raise LearningError(_("Only instructors can edit library documents."), code="forbidden", status=403)
    limits_by_field = {"title": 300, "author": 200, "category": 100, "language": 16}
    for name, value in fields.items():
        if name in limits_by_field:
            setattr(document, name, _clean(value, limits_by_field[name]))
        elif name == "year":
            document.year = _year(value)
        elif name == "description":
            document.description = str(value or "").strip()[:5000]
        else:
            raise LearningError(_("Unknown field: %(name)s") % {"name": name})
    if not document.title:
        raise LearningError(_("A document needs a title."))
    document.save()
    return document


def delete_document(actor: Actor | None, document: LibraryDocument) -> None:
    """Remove a document and (after commit) its file."""
    if not can_manage(actor):
        raise LearningError(_("Only instructors can remove library documents."), code="forbidden", status=403)
    storage, name = document.file.storage, document.file.name
    with transaction.atomic():
        document.delete()
        if name:
            transaction.on_commit(lambda: storage.delete(name))


def extract_document(document_id: int, *, force: bool = False) -> str:
    """Read a pending document's text (in a bounded child process) and record the outcome:
    ``done`` with the text and page count, or ``failed`` with the reason. Idempotent: a document
    already processed is left alone unless ``force``. Returns the final state ("" if absent)."""
    document = LibraryDocument.objects.filter(pk=document_id).first()
    if document is None:
        return ""
    if document.extraction_state != ExtractionState.PENDING and not force:
        return str(document.extraction_state)
    try:
        with document.file.open("rb") as handle:
            data = handle.read(max_bytes() + 1)
        if len(data) > max_bytes():
            raise textextract.ExtractionError("the file is larger than allowed")
        result = textextract.extract_text(data, str(document.kind), limits())
    except textextract.ExtractionError as exc:
        state, text, pages, error = ExtractionState.FAILED, "", None, exc.reason
    except OSError as exc:
        state, text, pages, error = ExtractionState.FAILED, "", None, f"the file could not be read ({exc})"
    else:
        state, text, pages, error = ExtractionState.DONE, result.text.replace("\x00", ""), result.pages, ""
    LibraryDocument.objects.filter(pk=document_id).update(
        extraction_state=state, text=text, pages=pages, extraction_error=error[:500], extracted_at=timezone.now()
    )
    return str(state)


@shared_task(name="learning.media.extract_document", ignore_result=True)
def extract_document_task(document_id: int) -> str:
    """Celery entry point (queue ``media``) of :func:`extract_document`."""
    return extract_document(document_id)


def categories() -> list[tuple[str, int]]:
    """(category, number of documents) for browsing, alphabetical; uncategorised as ""."""
    rows = LibraryDocument.objects.values("category").annotate(n=Count("pk")).order_by("category")
    return [(row["category"], row["n"]) for row in rows]


def documents(*, category: str | None = None) -> QuerySet[LibraryDocument]:
    """Documents, newest first, optionally of one category."""
    rows = LibraryDocument.objects.select_related("uploaded_by")
    if category is not None:
        rows = rows.filter(category=category)
    return rows.order_by("-created_at", "-pk")

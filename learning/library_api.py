"""Client API of the e-library under ``/api/v1/learning/library`` (Redcloud extension, documented
in ``docs/openapi.yaml``). Signed-in members read and search (Chinese included: ``learning.search``);
instructors and staff upload, edit and remove. Writes go through ``learning.library``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from learning import library
from learning.errors import LearningError
from learning.models import LibraryDocument
from learning.search import search_documents, snippet
from microblog.api import errors
from microblog.api.auth import api_view, param_int, param_str

READ, WRITE = "read", "write"
META_FIELDS = ("title", "author", "category", "language", "year", "description")


def document_json(document: LibraryDocument, *, query: str = "") -> dict[str, Any]:
    """A library document's metadata, extraction state and download URL (never its whole text;
    ``excerpt`` is a snippet around the first term of ``query``, or the start of the text)."""
    return {
        "id": str(document.pk),
        "title": document.title,
        "author": document.author,
        "category": document.category,
        "language": document.language,
        "year": document.year,
        "description": document.description,
        "kind": document.kind,
        "size": document.size,
        "pages": document.pages,
        "extraction_state": document.extraction_state,
        "excerpt": snippet(document.text or document.description, query),
        "file_url": reverse("library_file", args=[document.pk]),
        "created_at": document.created_at.isoformat(),
    }


def _fail(exc: LearningError) -> errors.ApiError:
    return errors.ApiError(exc.message, exc.status, code=exc.code)


def _document(document_id: int) -> LibraryDocument:
    return LibraryDocument.objects.get(pk=document_id)  # DoesNotExist: 404


@api_view({"GET": READ, "POST": WRITE}, methods=("GET", "POST"))
def documents(request: HttpRequest) -> Any:
    """GET: documents newest first, of ``category``, or matching every term of ``q`` (``limit``,
    ``offset``); POST (multipart ``file`` and metadata): upload a document (instructors, staff)."""
    params = request.params  # type: ignore[attr-defined]
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            raise errors.ValidationFailed("file is missing")
        values = {k: param_str(params.get(k)) for k in META_FIELDS}
        try:
            document = library.upload_document(request.actor, upload, **values)  # type: ignore[attr-defined]
        except LearningError as exc:
            raise _fail(exc) from None
        return document_json(document)
    query = param_str(params.get("q")).strip()[:200]
    category = params.get("category")
    category = None if category is None else param_str(category)
    rows = search_documents(query, category=category) if query else library.documents(category=category)
    limit = min(max(param_int(params.get("limit"), 20) or 20, 1), 100)
    offset = max(param_int(params.get("offset"), 0) or 0, 0)
    return [document_json(d, query=query) for d in rows[offset : offset + limit]]


@api_view(READ)
def categories(request: HttpRequest) -> Any:
    """Categories with their number of documents, alphabetical (``""`` = uncategorised)."""
    return [{"category": name, "documents": n} for name, n in library.categories()]


@api_view({"GET": READ, "PATCH": WRITE, "DELETE": WRITE}, methods=("GET", "PATCH", "DELETE"))
def document(request: HttpRequest, document_id: int) -> Any:
    """GET one document; PATCH its metadata, DELETE it (instructors, staff)."""
    row = _document(document_id)
    actor = request.actor  # type: ignore[attr-defined]
    try:
        if request.method == "PATCH":
            params = request.params  # type: ignore[attr-defined]
            fields = {k: param_str(params.get(k)) for k in META_FIELDS if k in params}
            row = library.update_document(actor, row, **fields)
        elif request.method == "DELETE":
            library.delete_document(actor, row)
            return {}
    except LearningError as exc:
        raise _fail(exc) from None
    return document_json(row)

"""Web pages of the e-library: browse by category, search (Chinese included), read a
document's details, download it; instructors and staff upload, edit and remove documents.

Pages are for signed-in members. Writes go through ``learning.library``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from federation.models import Actor
from learning import library
from learning.errors import LearningError
from learning.models import DocumentKind, LibraryDocument
from learning.search import search_documents, snippet

PAGE_SIZE = 20
CONTENT_TYPES = {DocumentKind.PDF: "application/pdf", DocumentKind.EPUB: "application/epub+zip"}
META_FIELDS = ("title", "author", "category", "language", "year", "description")


def _viewer(request: HttpRequest) -> Actor | None:
    return getattr(request.user, "actor", None) if request.user.is_authenticated else None


@login_required
def library_index(request: HttpRequest) -> HttpResponse:
    """Categories, then documents (of ``?category=``, or matching ``?q=``), 20 a page."""
    query = (request.GET.get("q") or "").strip()[:200]
    category = request.GET.get("category")
    if query:
        rows = search_documents(query, category=category)
    else:
        rows = library.documents(category=category)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    results = [(doc, snippet(doc.text or doc.description, query) if query else "") for doc in page.object_list]
    context = {
        "categories": library.categories(),
        "category": category,
        "query": query,
        "page": page,
        "results": results,
        "can_manage": library.can_manage(_viewer(request)),
    }
    return render(request, "learning/library/index.html", context)


@login_required
def document_page(request: HttpRequest, document_id: int) -> HttpResponse:
    """One document: metadata, extraction state, the start of its text, a download link."""
    document = get_object_or_404(LibraryDocument, pk=document_id)
    context = {
        "document": document,
        "excerpt": snippet(document.text, "", width=400),
        "can_manage": library.can_manage(_viewer(request)),
    }
    return render(request, "learning/library/document.html", context)


@login_required
def document_file(request: HttpRequest, document_id: int) -> HttpResponse:
    """The stored file, as an attachment with its own type (text as UTF-8 plain text)."""
    document = get_object_or_404(LibraryDocument, pk=document_id)
    try:
        handle = document.file.open("rb")
    except (OSError, ValueError):
        raise Http404 from None
    kind = DocumentKind(document.kind)
    content_type = CONTENT_TYPES.get(kind, "text/plain; charset=utf-8")
    name = document.original_name or f"document.{library.EXTENSIONS[kind]}"
    response = FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def upload_page(request: HttpRequest) -> HttpResponse:
    """Upload form (instructors and staff); a refusal re-shows the form with the reason (and its status)."""
    actor = _viewer(request)
    if not library.can_manage(actor):
        return render(request, "node/not_found.html", status=404)
    values = {name: (request.POST.get(name) or "") for name in META_FIELDS}
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise LearningError(_("Choose a file to upload."))
            document = library.upload_document(actor, upload, **values)
        except LearningError as exc:
            context = {"values": values, "error": exc.message, "max_mb": library.max_bytes() // (1024 * 1024)}
            return render(request, "learning/library/upload.html", context, status=exc.status)
        return HttpResponseRedirect(reverse("library_document", args=[document.pk]))
    context = {"values": values, "max_mb": library.max_bytes() // (1024 * 1024)}
    return render(request, "learning/library/upload.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def edit_page(request: HttpRequest, document_id: int) -> HttpResponse:
    """Edit a document's metadata (instructors and staff)."""
    actor = _viewer(request)
    document = get_object_or_404(LibraryDocument, pk=document_id)
    if not library.can_manage(actor):
        return render(request, "node/not_found.html", status=404)
    if request.method == "POST":
        values = {name: (request.POST.get(name) or "") for name in META_FIELDS}
        try:
            library.update_document(actor, document, **values)
        except LearningError as exc:
            context = {"document": document, "values": values, "error": exc.message}
            return render(request, "learning/library/edit.html", context, status=exc.status)
        return HttpResponseRedirect(reverse("library_document", args=[document.pk]))
    values = {name: getattr(document, name) if getattr(document, name) is not None else "" for name in META_FIELDS}
    return render(request, "learning/library/edit.html", {"document": document, "values": values})


@login_required
@require_POST
def delete_view(request: HttpRequest, document_id: int) -> HttpResponse:
    """Remove a document (instructors and staff)."""
    document = get_object_or_404(LibraryDocument, pk=document_id)
    try:
        library.delete_document(_viewer(request), document)
    except LearningError:
        return render(request, "node/not_found.html", status=404)
    return HttpResponseRedirect(reverse("library_index"))

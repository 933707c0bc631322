"""Course sharing endpoints and pages.

- ``GET /courses/<key>``: a local published course as AS2 for ActivityPub clients (browsers go to
  the course page). Unsigned or unauthorised fetches get the course without answer keys; a
  fetch signed by a node's instance actor (``sharing.may_read_answers``) gets the question bank
  with its keys and is recorded as an importer. Signed answers are ``private, no-store``.
- ``GET /learning/shared``: the catalog of shared courses (courses other nodes announced to us,
  and our own published ones): HTML, or an AS2 ``OrderedCollection`` of course summaries.
- ``/learning/import``: staff import a course by URL (also from a catalog entry).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from federation.keys import load_public_key
from federation.models import Actor
from federation.policy import is_blocked
from federation.resolve import ResolveError, actor_for_key
from federation.signatures import SignatureError, parse_signature, verify_signature
from federation.views import activity_json
from federation.vocab import wants_activitypub
from learning import sharing
from learning.errors import LearningError
from learning.models import Course, CourseState, SharedCourse
from learning.sharing_ap import CONTEXT, COURSE_TYPE

SIGNATURE_HEADERS = "Accept, Signature, Signature-Input, Authorization"


def _host(url: str) -> str:
    from federation.hosts import host_of

    try:
        return host_of(url)
    except ValueError:
        return ""


def verified_fetcher(request: HttpRequest) -> Actor | None:
    """The remote actor whose valid HTTP signature (cavage or RFC 9421) covers this GET, or
    None when the request is unsigned, badly signed, from a blocked domain or unresolvable.
    Never raises for hostile input."""
    if "signature" not in request.headers and "authorization" not in request.headers:
        return None
    try:
        signed = parse_signature(
            "GET", request.get_full_path(), request.headers, None, expected_host=str(settings.NODE_DOMAIN)
        )
        if is_blocked(_host(signed.key_id)):
            return None
        owner = actor_for_key(signed.key_id)
        verify_signature(signed, load_public_key(owner.public_key_pem))
    except (SignatureError, ResolveError, ValueError):
        return None
    # ``actor_for_key`` keeps owners in process memory for minutes: read the flags that decide
    # access (suspension, type) from the database, so a suspension takes effect at once.
    return Actor.objects.filter(pk=owner.pk, local=False, suspended=False).first()


@require_GET
def course_object(request: HttpRequest, key: str) -> HttpResponse:
    """A local published course as AS2 (answer keys only for an allowed node's signed fetch)."""
    ap_id = f"{settings.NODE_BASE_URL}/courses/{key}"
    course = Course.objects.filter(ap_id=ap_id, local=True, state=CourseState.PUBLISHED).first()
    if course is None:
        raise Http404
    if not wants_activitypub(request.headers.get("Accept", "")):
        response = HttpResponseRedirect(reverse("learning_course", args=[course.pk]))
        response["Vary"] = "Accept"
        return response
    fetcher = verified_fetcher(request)
    with_answers = sharing.may_read_answers(fetcher)
    if with_answers and fetcher is not None:
        sharing.record_importer(course, fetcher)
    response = activity_json(sharing.course_document(course, with_answers=with_answers))
    response["Vary"] = SIGNATURE_HEADERS
    if with_answers:
        response["Cache-Control"] = "private, no-store"
    return response


def catalog_entries() -> list[dict[str, Any]]:
    """Catalog entries: courses announced to us, then our own published ones (public fields)."""
    rows: list[dict[str, Any]] = [
        {
            "id": row.ap_id,
            "name": row.title,
            "summary": row.summary,
            "url": row.url,
            "domain": row.domain,
            "category": row.category,
            "credits": row.credits,
            "lessons": row.lesson_count,
            "authors": row.author_names,
            "publisher": row.publisher.ap_id,
            "updated": row.updated,
            "imported": False,
        }
        for row in SharedCourse.objects.filter(withdrawn=False).select_related("publisher")
    ]
    imported = set(Course.objects.filter(local=False).values_list("origin_ap_id", flat=True))
    for entry in rows:
        entry["imported"] = entry["id"] in imported
    own = Course.objects.filter(local=True, state=CourseState.PUBLISHED).order_by("-published_at", "-pk")
    domain = str(settings.NODE_DOMAIN)
    for course in own[:500]:
        rows.append(
            {
                "id": course.ap_id,
                "name": course.title,
                "summary": course.summary,
                "url": sharing.course_url(course),
                "domain": domain,
                "category": course.category,
                "credits": course.credits,
                "lessons": course.lessons.count(),
                "authors": course.author_names,
                "publisher": "",
                "updated": course.updated_at.isoformat(),
                "imported": True,
            }
        )
    return rows


@require_GET
def shared_catalog(request: HttpRequest) -> HttpResponse:
    """The catalog of shared courses (HTML, or AS2 for ActivityPub clients)."""
    entries = catalog_entries()
    if wants_activitypub(request.headers.get("Accept", "")):
        items = [
            {
                "id": e["id"],
                "type": [COURSE_TYPE, "Document"],
                "name": e["name"],
                "url": e["url"],
                "redcloud:category": e["category"],
                "redcloud:credits": e["credits"],
                **({"attributedTo": e["publisher"]} if e["publisher"] else {}),
            }
            for e in entries
        ]
        doc = {
            "@context": CONTEXT,
            "id": f"{settings.NODE_BASE_URL}{reverse('learning_shared')}",
            "type": "OrderedCollection",
            "totalItems": len(items),
            "orderedItems": items,
        }
        return activity_json(doc)
    can_import = bool(request.user.is_authenticated and request.user.is_staff)
    return render(request, "learning/library/shared.html", {"entries": entries, "can_import": can_import})


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    """Staff import a course by its URL; the copy's page follows, or the form with the reason."""
    if not request.user.is_staff:
        return render(request, "node/not_found.html", status=404)
    url = (request.POST.get("url") or request.GET.get("url") or "").strip()[:500]
    if request.method == "POST":
        try:
            course = sharing.import_course(url, by=getattr(request.user, "actor", None))
        except LearningError as exc:
            return render(
                request, "learning/library/import.html", {"url": url, "error": exc.message}, status=exc.status
            )
        return HttpResponseRedirect(reverse("learning_course", args=[course.pk]))
    return render(request, "learning/library/import.html", {"url": url})

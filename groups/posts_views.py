"""HTML group timeline: ``/g/<name>/posts`` for our groups and ``/g/<name@domain>/posts`` for
remote groups known here (their announced posts). Members (and officers) see members-only
posts and get a form to post to the group; anyone else sees only what the group made public.
Paginated with ``max_id`` like the other timelines."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from federation.vocab import wants_activitypub
from groups.models import Group
from groups.posts import create_group_post
from groups.timeline import can_read_all, known_group, timeline
from microblog.services import PostError
from microblog.web_display import PAGE_SIZE, decorate, max_id_of, older_url, viewer_of

MAX_TEXT = 5000


@require_http_methods(["GET", "POST"])
def group_posts_page(request: HttpRequest, name: str) -> HttpResponse:
    """The group's posts, newest first (GET); a member's new group post (POST, CSRF-checked).
    404 for unknown groups and for ActivityPub clients (the group actor is the AS2 document)."""
    if wants_activitypub(request.headers.get("Accept", "")):
        raise Http404
    group_actor = known_group(name)
    if group_actor is None:
        raise Http404
    viewer = viewer_of(request)
    if request.method == "POST":
        if viewer is None:
            raise PermissionDenied
        text = request.POST.get("status", "").strip()
        if not text:
            messages.error(request, _("Write something before posting."))
        elif len(text) > MAX_TEXT:
            messages.error(request, _("The post is too long."))
        else:
            try:
                create_group_post(viewer, group_actor, text=text)
            except PermissionDenied:
                messages.error(request, _("Only members can post to this group."))
            except PostError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Posted to the group."))
        return HttpResponseRedirect(reverse("group_posts", args=[name]))
    posts = timeline(viewer, group_actor, max_id=max_id_of(request), limit=PAGE_SIZE)
    group = Group.objects.filter(actor=group_actor).first() if group_actor.local else None
    context = {
        "group_actor": group_actor,
        "group": group,
        "is_member": can_read_all(viewer, group_actor) and viewer is not None and viewer.pk != group_actor.pk,
        "entries": decorate(posts, viewer),
        "older_url": older_url(request, posts),
    }
    return render(request, "groups/posts.html", context)

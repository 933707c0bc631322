"""The microblog's web UI, write side: compose, edit, delete, likes/boosts/bookmarks, votes, follows.
Read-only pages are in ``web_pages``; display helpers in ``web_display``.

Every write goes through the services (``services``, ``interactions``, ``polls``, ``media``,
``federation.follows``); views only read models to display them. Everything works without
JavaScript: actions are POST forms with CSRF tokens that redirect back (``next``).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from federation import follows
from federation.models import Actor
from microblog import interactions, media, polls, services
from microblog.forms import ComposeForm, EditForm, ui_to_post_language
from microblog.models import Post, Visibility
from microblog.web_display import next_url, not_found, post_path, profile_path, viewer_of

_RESTRICTION = [Visibility.PUBLIC, Visibility.UNLISTED, Visibility.PRIVATE, Visibility.DIRECT]


def _member(request: HttpRequest) -> Actor:
    """The signed-in member's actor; PermissionDenied for an account without one (e.g. a bare admin)."""
    actor = viewer_of(request)
    if actor is None:
        raise PermissionDenied
    return actor


def compose_form_for(
    viewer: Actor, *, reply_to: Post | None = None, data: Any = None, files: Any = None
) -> ComposeForm:
    """A compose form preset with the member's language, and for replies the parent's audience."""
    initial: dict[str, Any] = {"language": ui_to_post_language(get_language()), "idempotency_key": uuid.uuid4().hex}
    if reply_to is not None:
        initial["in_reply_to"] = reply_to.pk
        initial["visibility"] = reply_to.visibility if reply_to.visibility in _RESTRICTION else Visibility.PUBLIC
        if reply_to.summary:
            initial["summary"] = reply_to.summary
        if reply_to.author_id != viewer.pk:
            initial["text"] = f"@{reply_to.author.handle} "
    return ComposeForm(data, files, initial=initial)


# PostError names Mastodon's API parameters; these are the form fields showing them.
_ERROR_FIELDS = {"status": "text", "spoiler_text": "summary", "media_ids": "image", "poll": "poll_option_1"}


def _form_field(form: Any, exc: Any) -> str | None:
    """The form field a service error belongs to (None: shown above the form)."""
    name = _ERROR_FIELDS.get(exc.field, exc.field)
    return name if name in form.fields else None


# --- compose, edit, delete ------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest) -> HttpResponse:
    """Write a post or a reply (``?in_reply_to=<id>``); errors are shown on the form (status 400)."""
    viewer = _member(request)
    reply_id = request.POST.get("in_reply_to") or request.GET.get("in_reply_to") or ""
    reply_to = None
    if reply_id.isdigit():
        try:
            reply_to = services.get_post_for(viewer, int(reply_id))
        except Post.DoesNotExist:
            return not_found(request)
    if request.method == "GET":
        form = compose_form_for(viewer, reply_to=reply_to)
        return render(request, "microblog/compose.html", {"form": form, "reply_to": reply_to})

    form = compose_form_for(viewer, reply_to=reply_to, data=request.POST, files=request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        attachments = []
        try:
            if data.get("image"):
                attachments.append(
                    media.create_media(viewer, data["image"], description=data.get("image_description", ""))
                )
        except media.MediaError as exc:
            form.add_error("image", exc.message)
        if not form.errors:
            try:
                post = services.create_post(
                    viewer,
                    text=data["text"],
                    visibility=data["visibility"],
                    summary=data["summary"],
                    sensitive=bool(data["summary"]),
                    language=data["language"],
                    in_reply_to=reply_to,
                    media=attachments,
                    poll=form.poll(),
                    idempotency_key=request.POST.get("idempotency_key", "")[:100],
                )
            except services.PostError as exc:
                form.add_error(_form_field(form, exc), exc.message)
            else:
                messages.success(request, _("Your post is published."))
                default = post_path(reply_to) if reply_to is not None else reverse("timeline_home")
                return redirect(next_url(request, default) + f"#post-{post.pk}")
    return render(request, "microblog/compose.html", {"form": form, "reply_to": reply_to}, status=400)


def _own_post(request: HttpRequest, viewer: Actor, post_id: int) -> Post | HttpResponse:
    """The viewer's own post, or the 404 (invisible) / 403 (someone else's) response."""
    try:
        post = services.get_post_for(viewer, post_id)
    except Post.DoesNotExist:
        return not_found(request)
    if post.author_id != viewer.pk or post.reblog_of_id:
        return render(request, "microblog/forbidden.html", status=403)
    return post


@login_required
@require_http_methods(["GET", "POST"])
def edit_post(request: HttpRequest, post_id: int) -> HttpResponse:
    """Edit one's own post (text, CW, language); others get 403, invisible posts 404."""
    viewer = _member(request)
    post = _own_post(request, viewer, post_id)
    if isinstance(post, HttpResponse):
        return post
    initial = {"text": post.source, "summary": post.summary, "language": post.language or "zh-Hans"}
    form = EditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.edit_post(
                viewer,
                post,
                text=data["text"],
                summary=data["summary"],
                sensitive=bool(data["summary"]),
                language=data["language"],
            )
        except PermissionDenied:
            return render(request, "microblog/forbidden.html", status=403)
        except services.PostError as exc:
            form.add_error(_form_field(form, exc), exc.message)
        else:
            messages.success(request, _("Your post is updated."))
            return redirect(post_path(post))
    status = 400 if request.method == "POST" else 200
    return render(request, "microblog/edit.html", {"form": form, "post": post}, status=status)


@login_required
@require_POST
def delete_post(request: HttpRequest, post_id: int) -> HttpResponse:
    """Delete one's own post (a local moderator may delete any local post, as the service allows)."""
    viewer = _member(request)
    try:
        post = services.get_post_for(viewer, post_id)
    except Post.DoesNotExist:
        return not_found(request)
    try:
        services.delete_post(viewer, post)
    except PermissionDenied:
        return render(request, "microblog/forbidden.html", status=403)
    messages.success(request, _("Your post is deleted."))
    return redirect(next_url(request, reverse("timeline_home")))


# --- interactions ---------------------------------------------------------------------------

_ACTIONS = {"favourite", "unfavourite", "reblog", "unreblog", "bookmark", "unbookmark", "pin", "unpin"}


@login_required
@require_POST
def post_action(request: HttpRequest, post_id: int, action: str) -> HttpResponse:
    """Like, boost, bookmark, pin (and their undos) as plain POST forms; back to ``next``."""
    if action not in _ACTIONS:
        return not_found(request)
    viewer = _member(request)
    try:
        post = services.get_post_for(viewer, post_id)
    except Post.DoesNotExist:
        return not_found(request)
    target = post.reblog_of if post.reblog_of_id and post.reblog_of else post
    subject: Any = request.user if action in ("bookmark", "unbookmark") else viewer
    try:
        getattr(interactions, action)(subject, target)
    except interactions.InteractionError as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(next_url(request, post_path(target)) + f"#post-{target.pk}")


@login_required
@require_POST
def poll_vote(request: HttpRequest, post_id: int) -> HttpResponse:
    """Vote in a poll (one or several ``choice`` values, by option position)."""
    viewer = _member(request)
    try:
        post = services.get_post_for(viewer, post_id)
    except Post.DoesNotExist:
        return not_found(request)
    poll = getattr(post, "poll", None)
    if poll is None:
        return not_found(request)
    choices = [int(c) for c in request.POST.getlist("choice") if c.isdigit()]
    if not choices:
        messages.error(request, _("Choose an option first."))
    else:
        try:
            polls.vote(viewer, poll, choices)
        except polls.PollError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Your vote is counted."))
    return HttpResponseRedirect(next_url(request, post_path(post)) + f"#post-{post.pk}")


# --- follows --------------------------------------------------------------------------------


@login_required
@require_POST
def follow_actor(request: HttpRequest, actor_id: int) -> HttpResponse:
    """Follow a local or remote account (a remote one gets a ``Follow`` and stays pending until it accepts)."""
    viewer = _member(request)
    target = Actor.objects.filter(pk=actor_id, suspended=False).first()
    if target is None:
        return not_found(request)
    try:
        row = follows.follow(viewer, target)
    except follows.FollowError as exc:
        messages.error(request, str(exc))
    else:
        if row.state == "accepted":
            messages.success(request, _("You follow %(name)s now.") % {"name": target.handle})
        else:
            messages.success(request, _("Follow request sent to %(name)s.") % {"name": target.handle})
    return HttpResponseRedirect(next_url(request, profile_path(target)))


@login_required
@require_POST
def unfollow_actor(request: HttpRequest, actor_id: int) -> HttpResponse:
    """Stop following an account (or withdraw a pending request)."""
    viewer = _member(request)
    target = Actor.objects.filter(pk=actor_id).first()
    if target is None:
        return not_found(request)
    follows.unfollow(viewer, target)
    messages.success(request, _("You no longer follow %(name)s.") % {"name": target.handle})
    return HttpResponseRedirect(next_url(request, profile_path(target)))

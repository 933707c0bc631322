"""Client API: statuses (docs.joinmastodon.org/methods/statuses).

``POST /api/v1/statuses``, ``GET/PUT/DELETE /api/v1/statuses/:id``, ``/history``, ``/source``,
``/context`` and the interactions (favourite, reblog, bookmark, pin and their undos). Writes go
through ``microblog.services`` and ``microblog.interactions``; visibility through
``services.get_post_for`` (an invisible status is answered exactly like a missing one: 404
``Record not found``). Someone else's status cannot be edited or deleted: Mastodon looks it up
among the caller's own statuses, so the answer is 404 as well, never 403.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from microblog import media as media_service
from microblog import services
from microblog.api import account_serializers, errors, serializers
from microblog.api.auth import api_view, param_bool, param_list, param_str, scope_allows
from microblog.models import Media, Poll, Post, PostEdit, Visibility

# Mastodon's ``statuses.errors.in_reply_not_found`` (config/locales/en.yml).
IN_REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."
# Context sizes (Mastodon's StatusesController): anonymous callers get a bounded thread.
CONTEXT_LIMIT = 4096
ANON_ANCESTORS, ANON_DESCENDANTS, ANON_DEPTH = 40, 60, 20
MAX_IDS = 20  # ``GET /api/v1/statuses?id[]=``: at most this many ids are read


# ---------------------------------------------------------------- helpers shared by P4 modules


def record_id(value: Any) -> int:
    """A path id as an integer; anything that is not a positive number is ``Record not found``."""
    text = str(value or "")
    if not text.isdigit() or len(text) > 18:
        raise errors.NotFound()
    return int(text)


def optional_scope(request: HttpRequest, scope: str) -> None:
    """Public endpoints still check a token when one is sent (Mastodon's
    ``authorize_if_got_token!``): 403 when it lacks ``scope``."""
    token = getattr(request, "token", None)
    if token is not None and not scope_allows(token.scope.split(), scope):
        raise errors.ApiError(errors.OUTSIDE_SCOPES, 403)


def visible_status(request: HttpRequest, status_id: Any) -> Post:
    """The status ``status_id`` if the caller may see it, else 404 ``Record not found``."""
    try:
        return services.get_post_for(request.actor, record_id(status_id))  # type: ignore[attr-defined]
    except Post.DoesNotExist:
        raise errors.NotFound() from None


def _own_status(request: HttpRequest, status_id: Any) -> Post:
    """One of the caller's own live statuses (Mastodon: ``current_account.statuses.find``)."""
    actor = request.actor  # type: ignore[attr-defined]
    post = Post.objects.filter(author=actor, deleted_at__isnull=True, pk=record_id(status_id)).first()
    if post is None:
        raise errors.NotFound()
    return post


def fresh(post: Post) -> Post:
    """The row again (counters move with ``F()`` updates the object in memory does not see)."""
    return Post.objects.select_related("author", "reblog_of").get(pk=post.pk)


def original(post: Post) -> Post:
    """The boosted status for a boost, else the status itself (interactions target the original)."""
    return post.reblog_of if post.reblog_of_id and post.reblog_of is not None else post


def _post_error(exc: services.PostError) -> errors.ApiError:
    """``PostError`` messages already carry Mastodon's ``Validation failed: ...`` wording."""
    return errors.ApiError(exc.message, 422)


# ---------------------------------------------------------------- create


def _media_for(request: HttpRequest, ids: list[Any]) -> list[Media]:
    """The attachments named by ``media_ids[]``, in the order given. Unknown ids are refused
    (Mastodon 4: ``media_attachments.validations.not_found``); ownership and reuse are checked by
    ``create_post``."""
    wanted: list[int] = []
    for raw in ids:
        text = param_str(raw).strip()
        if not text.isdigit():
            raise errors.ApiError(f"Media {text} not found or already attached to another post", 422)
        wanted.append(int(text))
    rows = {m.pk: m for m in Media.objects.filter(pk__in=wanted, owner=request.actor)}  # type: ignore[attr-defined]
    missing = [str(pk) for pk in wanted if pk not in rows]
    if missing:
        raise errors.ApiError(f"Media {', '.join(missing)} not found or already attached to another post", 422)
    return [rows[pk] for pk in dict.fromkeys(wanted)]


def _poll_param(params: dict[str, Any]) -> dict[str, Any] | None:
    """``poll[options][]``, ``poll[expires_in]``, ``poll[multiple]`` (form) or a JSON ``poll``."""
    raw = params.get("poll")
    if not isinstance(raw, dict):
        return None
    options = [param_str(o) for o in param_list(raw.get("options"))]
    if not options and raw.get("expires_in") in (None, ""):
        return None
    expires = param_str(raw.get("expires_in")).strip()
    if not expires.lstrip("-").isdigit():
        raise errors.ValidationFailed("Poll expiration must be a number of seconds")
    return {"options": options, "expires_in": int(expires), "multiple": param_bool(raw.get("multiple"))}


@api_view({"GET": None, "POST": "write:statuses"}, methods=["GET", "POST"])
def statuses_root(request: HttpRequest) -> Any:
    """``POST /api/v1/statuses`` (publish) and ``GET /api/v1/statuses?id[]=...`` (Mastodon 4.3:
    several statuses at once; invisible or unknown ids are left out)."""
    if request.method == "POST":
        return _create(request)
    optional_scope(request, "read:statuses")
    wanted = []
    for raw in param_list(request.params.get("id"))[:MAX_IDS]:  # type: ignore[attr-defined]
        text = param_str(raw).strip()
        if text.isdigit() and len(text) <= 18:
            wanted.append(int(text))
    viewer = request.actor  # type: ignore[attr-defined]
    found = {p.pk: p for p in services.visible_posts(viewer).filter(pk__in=wanted)}
    return serializers.statuses([found[pk] for pk in dict.fromkeys(wanted) if pk in found], viewer=viewer)


def _create(request: HttpRequest) -> Any:
    """Publish a status; the same ``Idempotency-Key`` within an hour returns the first status
    instead of posting twice."""
    params = request.params  # type: ignore[attr-defined]
    actor = request.actor  # type: ignore[attr-defined]
    in_reply_to = None
    reply_id = param_str(params.get("in_reply_to_id")).strip()
    if reply_id:
        try:
            in_reply_to = services.get_post_for(actor, record_id(reply_id))
        except (Post.DoesNotExist, errors.ApiError):
            raise errors.ApiError(IN_REPLY_NOT_FOUND, 404) from None
    defaults = actor.data or {}
    visibility = param_str(params.get("visibility")).strip() or defaults.get("default_privacy", Visibility.PUBLIC)
    media = _media_for(request, param_list(params.get("media_ids")))
    try:
        post = services.create_post(
            actor,
            text=param_str(params.get("status")),
            visibility=visibility,
            summary=param_str(params.get("spoiler_text")),
            sensitive=param_bool(params.get("sensitive"), bool(defaults.get("default_sensitive", False))),
            language=param_str(params.get("language")).strip(),
            in_reply_to=in_reply_to,
            media=media,
            poll=_poll_param(params),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
    except services.PostError as exc:
        raise _post_error(exc) from None
    return serializers.status(fresh(post), viewer=actor)


# ---------------------------------------------------------------- show, edit, delete


@api_view({"GET": None, "PUT": "write:statuses", "DELETE": "write:statuses"}, methods=["GET", "PUT", "DELETE"])
def status_detail(request: HttpRequest, status_id: str) -> Any:
    """``GET`` (public for visible statuses), ``PUT`` (edit) and ``DELETE`` of one status."""
    if request.method == "PUT":
        return _edit(request, status_id)
    if request.method == "DELETE":
        return _delete(request, status_id)
    optional_scope(request, "read:statuses")
    return serializers.status(visible_status(request, status_id), viewer=request.actor)  # type: ignore[attr-defined]


def _delete(request: HttpRequest, status_id: str) -> Any:
    """Delete one of the caller's statuses; answers it with ``text`` for delete-and-redraft.

    As on Mastodon, the attachments are kept (detached) so the redraft can reuse their ids in
    ``media_ids[]``, unless ``delete_media=true`` (Mastodon 4.4) asks to remove them now."""
    actor = request.actor  # type: ignore[attr-defined]
    post = _own_status(request, status_id)
    data = serializers.status(post, viewer=actor, source=True)
    services.delete_post(actor, post)
    attachments = Media.objects.filter(post=post, owner=actor)
    if param_bool(request.params.get("delete_media")):  # type: ignore[attr-defined]
        for item in attachments:
            media_service.delete_media_files(item)
            item.delete()
    else:
        attachments.update(post=None, position=0)
    return data


def _same_ids(given: list[Any], current: list[int]) -> bool:
    return [param_str(i).strip() for i in given] == [str(i) for i in current]


def _edit(request: HttpRequest, status_id: str) -> Any:
    """Edit text, content warning, sensitivity, language and alt texts. Absent parameters keep
    their value (as Mastodon's UpdateStatusService). Changing the attachments or the poll is
    refused with 422 rather than silently ignored; clients that resend the current ones (the
    Mastodon web app, Elk) are fine."""
    params = request.params  # type: ignore[attr-defined]
    actor = request.actor  # type: ignore[attr-defined]
    post = _own_status(request, status_id)
    if not post.local or post.reblog_of_id:
        raise errors.NotFound()
    current_media = list(post.media.order_by("position", "id").values_list("pk", flat=True))
    if "media_ids" in params and not _same_ids(param_list(params.get("media_ids")), current_media):
        raise errors.ValidationFailed("Attachments cannot be changed when editing a post")
    poll = Poll.objects.filter(post=post).first()
    new_poll = _poll_param(params)
    if new_poll is not None:
        titles = list(poll.options.values_list("title", flat=True)) if poll else None
        if titles != new_poll["options"] or (poll is not None and poll.multiple != new_poll["multiple"]):
            raise errors.ValidationFailed("Polls cannot be changed when editing a post")
    descriptions: dict[int, str] = {}
    for item in param_list(params.get("media_attributes")):
        if isinstance(item, dict) and param_str(item.get("id")).isdigit() and "description" in item:
            descriptions[int(param_str(item.get("id")))] = param_str(item.get("description"))
    has_summary = "spoiler_text" in params
    summary = param_str(params.get("spoiler_text")) if has_summary else post.summary
    if "sensitive" in params or has_summary:
        sensitive = param_bool(params.get("sensitive")) or bool(summary)
    else:
        sensitive = post.sensitive
    try:
        edited = services.edit_post(
            actor,
            post,
            text=param_str(params.get("status")) if "status" in params else post.source,
            summary=summary,
            sensitive=sensitive,
            language=param_str(params.get("language")).strip() or post.language,
            media_descriptions=descriptions or None,
        )
    except services.PostError as exc:
        raise _post_error(exc) from None
    return serializers.status(fresh(edited), viewer=actor)


# ---------------------------------------------------------------- history, source


def _edit_entry(post: Post, edit: PostEdit | None, account: dict[str, Any], media: list[Media]) -> dict[str, Any]:
    """A StatusEdit entity; ``edit=None`` is the current (never edited) version."""
    described = list(edit.media_descriptions) if edit is not None else [m.description for m in media]
    attachments = []
    for index, item in enumerate(media):
        entity = serializers.media(item)
        if index < len(described):
            entity["description"] = described[index] or None
        attachments.append(entity)
    entry: dict[str, Any] = {
        "content": edit.content if edit is not None else post.content,
        "spoiler_text": edit.summary if edit is not None else post.summary,
        "sensitive": edit.sensitive if edit is not None else post.sensitive,
        "created_at": account_serializers.iso(edit.created_at if edit is not None else post.published_at),
        "account": account,
        "media_attachments": attachments,
        "emojis": [],
    }
    poll = Poll.objects.filter(post=post).first()
    if poll is not None:
        titles = (edit.poll_options if edit is not None else None) or list(poll.options.values_list("title", flat=True))
        entry["poll"] = {"options": [{"title": t} for t in titles]}
    return entry


@api_view(None)
def status_history(request: HttpRequest, status_id: str) -> Any:
    """``GET /api/v1/statuses/:id/history``: every version, oldest first, the current one last."""
    optional_scope(request, "read:statuses")
    post = visible_status(request, status_id)
    account = account_serializers.account(post.author, viewer=request.actor)  # type: ignore[attr-defined]
    media = list(post.media.order_by("position", "id"))
    edits = list(post.edits.order_by("created_at", "id"))
    if not edits:
        return [_edit_entry(post, None, account, media)]
    return [_edit_entry(post, e, account, media) for e in edits]


@api_view("read:statuses")
def status_source(request: HttpRequest, status_id: str) -> Any:
    """``GET /api/v1/statuses/:id/source``: the plain text to edit (StatusSource)."""
    post = visible_status(request, status_id)
    return {"id": str(post.pk), "text": post.source, "spoiler_text": post.summary}


# ---------------------------------------------------------------- context


def _ancestors(post: Post, limit: int) -> list[Post]:
    """Parents up the ``in_reply_to`` chain (as stored locally, whichever node wrote them),
    oldest first."""
    chain: list[Post] = []
    seen = {post.pk}
    current = post
    while current.in_reply_to_id and len(chain) < limit and current.in_reply_to_id not in seen:
        parent = Post.objects.filter(pk=current.in_reply_to_id).first()
        if parent is None:
            break
        seen.add(parent.pk)
        chain.append(parent)
        current = parent
    chain.reverse()
    return chain


def _descendants(post: Post, limit: int, depth: int | None) -> list[Post]:
    """Replies below ``post`` in thread order (depth first, each level by id). Replies stored
    before their parent arrived are linked by ``in_reply_to_ap_id`` too."""
    children: dict[int, list[Post]] = {}
    frontier = [post]
    level = 0
    total = 0
    seen = {post.pk}
    while frontier and total < limit and (depth is None or level < depth):
        by_ap = {p.ap_id: p.pk for p in frontier}
        rows = Post.objects.filter(reblog_of__isnull=True, deleted_at__isnull=True).filter(
            in_reply_to_id__in=list(by_ap.values())
        ) | Post.objects.filter(
            reblog_of__isnull=True, deleted_at__isnull=True, in_reply_to__isnull=True, in_reply_to_ap_id__in=list(by_ap)
        )
        nxt = []
        for row in rows.order_by("id")[: limit - total + 1]:
            if row.pk in seen:
                continue
            seen.add(row.pk)
            parent = row.in_reply_to_id or by_ap.get(row.in_reply_to_ap_id)
            children.setdefault(parent, []).append(row)  # type: ignore[arg-type]
            nxt.append(row)
        total += len(nxt)
        frontier = nxt
        level += 1
    ordered: list[Post] = []
    stack = list(reversed(children.get(post.pk, [])))
    while stack and len(ordered) < limit:
        node = stack.pop()
        ordered.append(node)
        stack.extend(reversed(children.get(node.pk, [])))
    return ordered


@api_view(None)
def status_context(request: HttpRequest, status_id: str) -> Any:
    """``GET /api/v1/statuses/:id/context``: visible ancestors and descendants. Anonymous
    callers get at most 40 ancestors and 60 descendants 20 levels deep, as on Mastodon."""
    optional_scope(request, "read:statuses")
    viewer = request.actor  # type: ignore[attr-defined]
    post = visible_status(request, status_id)
    if viewer is None:
        ancestors, descendants = _ancestors(post, ANON_ANCESTORS), _descendants(post, ANON_DESCENDANTS, ANON_DEPTH)
    else:
        ancestors, descendants = _ancestors(post, CONTEXT_LIMIT), _descendants(post, CONTEXT_LIMIT, None)
    ids = [p.pk for p in ancestors + descendants]
    visible = set(services.visible_posts(viewer).filter(pk__in=ids).values_list("pk", flat=True))
    return serializers.context(
        [p for p in ancestors if p.pk in visible], [p for p in descendants if p.pk in visible], viewer=viewer
    )

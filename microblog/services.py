"""Posts: the only write path for creating, editing and deleting statuses, and the permission
checked readers every view and API uses (``get_post_for``, ``visible_posts``).

Side effects (notifications, federation) are scheduled after commit through ``microblog.tasks``.
Addressing follows Mastodon:

| visibility | to | cc |
|---|---|---|
| public | Public | followers + mentions |
| unlisted | followers | Public + mentions |
| private | followers | mentions |
| direct | mentions | — |
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from federation.models import Actor, ActorBlock, Follow, FollowState
from federation.outbox import cancel_deliveries
from federation.vocab import PUBLIC
from microblog import hooks, tasks
from microblog import text as text_module
from microblog.models import Media, Mention, Notification, Post, PostEdit, Visibility

DEFAULT_LANGUAGES = [
    ("zh-Hans", "简体中文"),
    ("en", "English"),
    ("bo", "བོད་ཡིག"),
    ("khb", "ᦑᦲᧈᦟᦹᧉ"),
    ("tdd", "ᥖᥭᥰᥖᥬᥳᥑᥨᥒᥰ"),
]
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}$")
# Chinese tags clients send, all meaning the simplified script we publish as ``zh-Hans``.
_ZH_HANS = {"zh", "zh-hans", "zh-cn", "zh-sg", "zh-hans-cn", "cmn", "zho", "chi"}


class PostError(ValueError):
    """Invalid input for a post; ``field`` names the offending parameter (Mastodon's names:
    ``status``, ``visibility``, ``media_ids``, ``in_reply_to_id``, ``language``, ``poll``)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _max_chars() -> int:
    return int(getattr(settings, "MICROBLOG_MAX_CHARS", 500))


def _max_media() -> int:
    return int(getattr(settings, "MICROBLOG_MAX_MEDIA", 4))


def language_choices() -> list[tuple[str, str]]:
    """Languages offered to members (code, native name); zh-Hans, en, bo, khb and tdd included."""
    return list(getattr(settings, "MICROBLOG_POST_LANGUAGES", DEFAULT_LANGUAGES))


def normalise_language(value: str) -> str:
    """A BCP 47 tag as we store it (``zh``/``zh-CN`` → ``zh-Hans``, known codes in their listed
    spelling); ``""`` for empty; raises :class:`PostError` for a malformed tag."""
    value = (value or "").strip().replace("_", "-")
    if not value:
        return ""
    if value.lower() in _ZH_HANS:
        return "zh-Hans"
    for code, _name in language_choices():
        if code.lower() == value.lower():
            return code
    if not _LANG_RE.match(value):
        raise PostError(f"Language {value!r} is not a valid language tag", field="language")
    return value


def _default_language(author: Actor) -> str:
    user = getattr(author, "user", None) if author.user_id else None
    candidate = getattr(user, "language", "") or str(getattr(settings, "LANGUAGE_CODE", ""))
    try:
        return normalise_language(candidate)
    except PostError:
        return ""


def new_object_id() -> str:
    """A fresh opaque, stable id for an object this node publishes (``<base>/objects/<uuid>``)."""
    return f"{settings.NODE_BASE_URL}/objects/{uuid.uuid4().hex}"


def post_page_url(post: Post) -> str:
    """The HTML page of a local post: ``<base>/@<username>/<pk>``."""
    return f"{settings.NODE_BASE_URL}/@{post.author.username}/{post.pk}"


def addressing(author: Actor, visibility: str, mentions: Sequence[Actor]) -> tuple[list[str], list[str]]:
    """``(to, cc)`` of a post with this visibility and these mentioned actors, as Mastodon writes
    them (see the module docstring)."""
    followers = author.followers_url
    mentioned = [a.ap_id for a in mentions if a.pk != author.pk]
    if visibility == Visibility.PUBLIC:
        return [PUBLIC], _dedupe([followers, *mentioned])
    if visibility == Visibility.UNLISTED:
        return [followers], _dedupe([PUBLIC, *mentioned])
    if visibility == Visibility.PRIVATE:
        return [followers], _dedupe(mentioned)
    return _dedupe(mentioned), []


def _dedupe(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _check_text(body: str, summary: str, *, has_attachments: bool) -> None:
    if not body.strip() and not has_attachments:
        raise PostError("Validation failed: Text can't be blank", field="status")
    limit = _max_chars()
    if text_module.text_length(body) + len(summary) > limit:
        raise PostError(f"Validation failed: Text character limit of {limit} exceeded", field="status")


def _check_media(author: Actor, media: Sequence[Media], post: Post | None = None) -> list[Media]:
    items = list(media)
    if len(items) > _max_media():
        raise PostError(f"Validation failed: Cannot attach more than {_max_media()} files", field="media_ids")
    for item in items:
        if item.owner_id != author.pk:
            raise PostError("Validation failed: Media does not belong to the author", field="media_ids")
        if item.post_id is not None and (post is None or item.post_id != post.pk):
            raise PostError("Validation failed: Media is already attached to another post", field="media_ids")
    return items


def _schedule(post_id: int, *names: str) -> None:
    for name in names:
        task: Any = getattr(tasks, name)
        transaction.on_commit(partial(task.delay, post_id))


def create_post(
    author: Actor,
    *,
    text: str,
    visibility: str = "public",
    summary: str = "",
    sensitive: bool = False,
    language: str = "",
    in_reply_to: Post | None = None,
    media: Sequence[Media] = (),
    poll: dict[str, Any] | None = None,
    idempotency_key: str = "",
    audience: Actor | None = None,
) -> Post:
    """Publish a local post by ``author`` and return it.

    Guarantees: the input is valid (else :class:`PostError`, nothing stored); the same author
    and ``idempotency_key`` within an hour return the first post; a reply's parent is visible
    to the author and the reply joins its conversation; mentions, hashtags, media and the poll
    are stored with the post in one transaction; after commit the post is surfaced
    (notifications) and federated."""
    body = (text or "").replace("\r\n", "\n")
    summary = (summary or "").strip()
    key = (idempotency_key or "").strip()[:100]
    if key:
        window = timezone.now() - timedelta(seconds=int(getattr(settings, "MICROBLOG_IDEMPOTENCY_SECONDS", 3600)))
        earlier = Post.objects.filter(author=author, idempotency_key=key, created_at__gte=window).first()
        if earlier is not None:
            return earlier
    if not author.local:
        raise PostError("Only members of this node can post here", field="account")
    if visibility not in Visibility.values:
        raise PostError(f"Validation failed: Visibility {visibility!r} is not valid", field="visibility")
    items = _check_media(author, media)
    if poll is not None and items:
        raise PostError("Validation failed: Cannot attach files to a poll", field="media_ids")
    _check_text(body, summary, has_attachments=bool(items) or poll is not None)
    if len(summary) > 1000:
        raise PostError("Validation failed: Content warning is too long", field="spoiler_text")
    lang = normalise_language(language) or _default_language(author)
    if in_reply_to is not None and not visible_posts(author).filter(pk=in_reply_to.pk).exists():
        raise PostError(
            "Validation failed: The post you replied to does not exist or is not visible", field="in_reply_to_id"
        )

    rendered = text_module.render(body)
    to, cc = addressing(author, visibility, rendered.mentions)
    if audience is not None and visibility != Visibility.DIRECT:
        to = _dedupe([*to, audience.ap_id])  # FEP-1b12: the group is addressed, and named in ``audience``
    ap_id = new_object_id()
    with transaction.atomic():
        post = Post.objects.create(
            ap_id=ap_id,
            local=True,
            author=author,
            object_type="Question" if poll is not None else "Note",
            visibility=visibility,
            content=rendered.html,
            source=body,
            summary=summary,
            sensitive=bool(sensitive or summary),
            language=lang,
            content_map={lang: rendered.html} if lang else {},
            in_reply_to=in_reply_to,
            in_reply_to_ap_id=in_reply_to.ap_id if in_reply_to else "",
            conversation=(in_reply_to.conversation or in_reply_to.ap_id) if in_reply_to else f"{ap_id}#context",
            audience=audience,
            to=to,
            cc=cc,
            idempotency_key=key,
        )
        post.url = post_page_url(post)
        post.save(update_fields=["url"])
        Mention.objects.bulk_create([Mention(post=post, actor=a) for a in rendered.mentions if a.pk != author.pk])
        text_module.set_hashtags(post, rendered.hashtags)
        for position, item in enumerate(items):
            item.post, item.position = post, position
            item.save(update_fields=["post", "position"])
        if poll is not None:
            _create_poll(post, poll)
        if in_reply_to is not None:
            Post.objects.filter(pk=in_reply_to.pk).update(replies_count=F("replies_count") + 1)
        _schedule(post.pk, "surface_post", "federate_post")
        hooks.post_event("created", post)
    return post


def _create_poll(post: Post, poll: dict[str, Any]) -> None:
    from microblog import polls

    create = getattr(polls, "create_poll", None)
    if create is None:
        raise PostError("Polls are not available", field="poll")
    try:
        create(
            post,
            options=list(poll.get("options") or []),
            expires_in=int(poll.get("expires_in") or 0),
            multiple=bool(poll.get("multiple", False)),
        )
    except ValueError as exc:  # polls.PollError is a ValueError
        raise PostError(f"Validation failed: {exc}", field="poll") from exc


def edit_post(
    editor: Actor,
    post: Post,
    *,
    text: str,
    summary: str = "",
    sensitive: bool = False,
    language: str = "",
    media_descriptions: dict[int, str] | None = None,
) -> Post:
    """Change the text, content warning, language or media descriptions of a local post.

    Guarantees: only the author edits (else ``PermissionDenied``); the previous version is kept
    as a :class:`PostEdit`; ``edited_at`` is set; new mentions are added (earlier ones are kept,
    so the audience never shrinks silently), hashtags follow the new text; an ``Update`` is
    federated after commit."""
    if post.author_id != editor.pk or not post.local:
        raise PermissionDenied("only the author can edit a post")
    if post.deleted_at is not None:
        raise PostError("Validation failed: The post was deleted", field="status")
    body = (text or "").replace("\r\n", "\n")
    summary = (summary or "").strip()
    media_rows = list(post.media.order_by("position"))
    has_poll = hasattr(post, "poll")
    _check_text(body, summary, has_attachments=bool(media_rows) or has_poll)
    lang = normalise_language(language) or post.language
    rendered = text_module.render(body)
    with transaction.atomic():
        if not post.edits.exists():  # the original version, so history shows every version
            PostEdit.objects.create(
                post=post,
                content=post.content,
                summary=post.summary,
                sensitive=post.sensitive,
                media_descriptions=[m.description for m in media_rows],
                created_at=post.published_at,
            )
        if media_descriptions:
            for item in media_rows:
                if item.pk in media_descriptions:
                    item.description = str(media_descriptions[item.pk])[:1500]
                    item.save(update_fields=["description"])
        post.content = rendered.html
        post.source = body
        post.summary = summary
        post.sensitive = bool(sensitive or summary)
        post.language = lang
        post.content_map = {lang: rendered.html} if lang else {}
        post.edited_at = timezone.now()
        known = set(post.mentions.values_list("actor_id", flat=True))
        new = [a for a in rendered.mentions if a.pk not in known and a.pk != post.author_id]
        Mention.objects.bulk_create([Mention(post=post, actor=a) for a in new])
        if new:
            extra_to, extra_cc = addressing(post.author, post.visibility, new)
            if post.visibility == Visibility.DIRECT:
                post.to = _dedupe([*post.to, *extra_to])
            else:
                post.cc = _dedupe([*post.cc, *extra_cc])
        post.save(
            update_fields=[
                "content",
                "source",
                "summary",
                "sensitive",
                "language",
                "content_map",
                "edited_at",
                "to",
                "cc",
            ]
        )
        text_module.set_hashtags(post, rendered.hashtags)
        PostEdit.objects.create(
            post=post,
            content=post.content,
            summary=post.summary,
            sensitive=post.sensitive,
            media_descriptions=[m.description for m in media_rows],
            created_at=post.edited_at,
        )
        _schedule(post.pk, "surface_edit", "federate_edit")
        hooks.post_event("updated", post)
    return post


def can_delete(actor: Actor, post: Post) -> bool:
    """True for the author, for local staff moderators and for the node's own instance actor
    (admin actions by an operator without a member account)."""
    if post.author_id == actor.pk:
        return True
    if actor.local and actor.type == "Application":
        return True
    user = actor.user if actor.local and actor.user_id else None
    return bool(user is not None and (user.is_staff or user.is_superuser))


def delete_post(actor: Actor, post: Post) -> None:
    """Tombstone ``post``: content cleared, ``deleted_at`` set, the parent's reply count and
    the post's boosts and notifications removed, pending deliveries about it cancelled, and (for
    a local post) a ``Delete`` federated after commit. Only the author or a local staff
    moderator may delete (else ``PermissionDenied``); deleting twice is harmless."""
    if not can_delete(actor, post):
        raise PermissionDenied("only the author or a moderator can delete a post")
    with transaction.atomic():
        locked = Post.objects.select_for_update().get(pk=post.pk)
        if locked.deleted_at is not None:
            return
        tombstone(locked)
        if locked.local:
            cancel_deliveries(locked.ap_id)
            _schedule(locked.pk, "federate_delete")
        hooks.post_event("deleted", locked)
    post.refresh_from_db()


def tombstone(post: Post) -> None:
    """Clear a post's content and mark it deleted (the row stays so the id never comes back);
    fixes the parent's reply count and tombstones boosts of it. Caller holds the transaction."""
    now = timezone.now()
    post.deleted_at = now
    post.content = post.source = post.summary = post.name = ""
    post.content_map = {}
    post.save(update_fields=["deleted_at", "content", "source", "summary", "name", "content_map"])
    post.hashtags.clear()
    Notification.objects.filter(post=post).delete()
    if post.in_reply_to_id:
        Post.objects.filter(pk=post.in_reply_to_id, replies_count__gt=0).update(replies_count=F("replies_count") - 1)
    if post.reblog_of_id:
        Post.objects.filter(pk=post.reblog_of_id, reblogs_count__gt=0).update(reblogs_count=F("reblogs_count") - 1)
    Post.objects.filter(reblog_of=post, deleted_at__isnull=True).update(deleted_at=now)


# Extra visibility rules of higher layers (groups: posts a group carries are visible to its
# members). A rule is ``fn(viewer) -> Q`` over ``Post``; it can only widen what a signed-in
# viewer sees, never what the public sees, and never past blocks or deletion.
VisibilityRule = Callable[[Actor], Q]
_visibility_rules: list[VisibilityRule] = []


def register_visibility_rule(fn: VisibilityRule) -> VisibilityRule:
    """Register ``fn(viewer) -> Q`` (idempotent on re-import): posts matching it are visible to
    ``viewer`` in :func:`visible_posts` (and so everywhere posts are read)."""
    if fn not in _visibility_rules:
        _visibility_rules.append(fn)
    return fn


def visible_posts(viewer: Actor | None) -> QuerySet[Post]:
    """Posts ``viewer`` may see: never deleted ones nor those of suspended authors; public and
    unlisted to everyone; followers-only to the author, accepted followers and mentioned
    actors; direct to the author and mentioned actors; to a signed-in viewer also what a
    registered rule allows (:func:`register_visibility_rule`: a group's posts to its members);
    nothing from an actor who blocks the viewer or whom the viewer blocks (nor the node blocks)."""
    posts = Post.objects.filter(deleted_at__isnull=True, author__suspended=False)
    posts = posts.exclude(author__in=ActorBlock.objects.filter(owner__isnull=True).values("target"))
    open_ = Q(visibility__in=[Visibility.PUBLIC, Visibility.UNLISTED])
    if viewer is None:
        return posts.filter(open_)
    followed = Follow.objects.filter(follower=viewer, state=FollowState.ACCEPTED).values("target")
    mentioned = Mention.objects.filter(actor=viewer).values("post")
    allowed = open_ | Q(author=viewer) | Q(pk__in=mentioned) | Q(visibility=Visibility.PRIVATE, author__in=followed)
    for rule in list(_visibility_rules):
        allowed |= rule(viewer)
    blocked = ActorBlock.objects.filter(owner=viewer).values("target")
    blockers = ActorBlock.objects.filter(target=viewer, owner__isnull=False).values("owner")
    return posts.filter(allowed).exclude(author__in=blocked).exclude(author__in=blockers)


def get_post_for(viewer: Actor | None, post_id: int) -> Post:
    """The post ``post_id`` if ``viewer`` may see it; ``Post.DoesNotExist`` when it is absent or
    not visible (the same answer, so ids cannot be probed)."""
    return visible_posts(viewer).select_related("author").get(pk=post_id)


def can_see(viewer: Actor | None, post: Post) -> bool:
    """True when ``viewer`` may see ``post`` (same rules as :func:`visible_posts`)."""
    return visible_posts(viewer).filter(pk=post.pk).exists()
